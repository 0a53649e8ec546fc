"""Sender and kind: rules on the letterhead, title and signature, then the model, else unknown."""

from letters.classify import classify_kind, classify_sender, kind_by_rule, sender_by_rule


def test_the_letterhead_names_the_sender_a_school_before_its_kommune() -> None:
    assert sender_by_rule("Oslo kommune, Tøyen skole\nPostboks 1\n\nTil foresatte\nInformasjon\nTekst") == "school"
    assert sender_by_rule("Oslo kommune, Bydel Stovner\nBamehageopptaket\nA\nB\nTekst") == "barnehage"   # OCR: rn -> m
    assert sender_by_rule("Asker kommune\nFlyktningtjenesten\nA\nB\nTekst") == "kommune"


def test_nav_in_the_body_is_not_the_sender_but_a_signature_is() -> None:
    body = "Ola Nordmann\nGata 1\n0101 Oslo\nHei\nDu kan kontakte NAV om stønad.\nMer tekst her.\nOg her.\nHilsen\nOla"
    assert sender_by_rule(body) is None
    assert sender_by_rule("Heilfo\nPostboks 2415\nA\nB\nTekst\nMed vennlig hilsen\nHelfo") == "helfo"


def test_the_title_names_the_kind() -> None:
    assert kind_by_rule("NAV\nVedtak om barnetrygd\nVi har innvilget ...") == "decision"
    assert kind_by_rule("Intrum\nInkassovarsel\nKreditor: Telia") == "invoice"
    assert kind_by_rule("Skolen\nInnkalling til utviklingssamtale\n") == "summons"
    assert kind_by_rule("UDI\nVi trenger flere dokumenter i saken din\n") == "documents"
    # A long sentence mentioning a decision is not a title.
    assert kind_by_rule("Hei\nDu kan lese mer om vedtak om barnetrygd og andre ytelser på nettsidene våre her\n") is None


def test_the_model_decides_without_a_rule() -> None:
    label = classify_kind("Hei\nVi har ikke mottatt husleien for april. Betal snarest til kontoen.\nHilsen Per")
    assert (label.value, label.by) == ("invoice", "model")


def test_what_the_model_is_unsure_of_is_unknown() -> None:
    text = "Hei\nVær vennlig og se vedlagte.\nTakk\n"
    assert classify_sender(text).value == "unknown" and classify_sender(text).by == "none"
    assert classify_kind("Lorem ipsum dolor sit amet\nconsectetur adipiscing elit\n").value == "unknown"
