from nlu.text import normalize, strip_invisible


def test_arabic_variants_and_diacritics_are_unified():
    assert normalize("أُرِيدُ طَبِيبًا") == normalize("اريد طبيبا")
    assert normalize("مدرسة") == normalize("مدرسه")


def test_persian_and_arabic_letter_forms_are_one():
    assert normalize("کمک می‌خوام") == normalize("كمك مي خوام")


def test_case_space_and_invisible_characters():
    assert normalize("  Jeg   TRENGER\u200b fastlege ") == "jeg trenger fastlege"
    assert strip_invisible("a\u202eb\u2066c") == "abc"
