"""The emergency safety net: it catches emergencies in every language and
never fires on the other training examples."""

import re
from collections import defaultdict
from pathlib import Path

import pytest

from nlu.safety import SafetyNet
from tests.training_data import ROOT, examples

SAFETY = ROOT / "data" / "safety"
LANGUAGES = ("nb", "en", "ar", "uk", "ru", "ti", "so", "fa")


@pytest.fixture(scope="module")
def net() -> SafetyNet:
    return SafetyNet.from_directory(SAFETY)


def test_every_language_has_patterns() -> None:
    assert sorted(p.stem for p in SAFETY.glob("*.yml")) == sorted(LANGUAGES)


def test_catches_most_emergency_examples_in_every_language(net: SafetyNet) -> None:
    caught, total = defaultdict(int), defaultdict(int)
    for ex in examples():
        if ex.topic == "emergency":
            total[ex.lang] += 1
            caught[ex.lang] += net.match(ex.text) is not None
    for lang in LANGUAGES:
        assert caught[lang] / total[lang] >= 0.9, f"{lang}: {caught[lang]}/{total[lang]}"


def test_never_fires_on_other_topics(net: SafetyNet) -> None:
    """As for a message whose language was detected reliably (its own and
    the shared Norwegian and English patterns)."""
    false_alarms = [(ex.lang, ex.intent, ex.text) for ex in examples()
                    if ex.topic != "emergency" and net.match(ex.text, prefer=ex.lang, reliable=True)]
    assert false_alarms == []


@pytest.mark.parametrize(
    "text",
    ["where is the fire extinguisher", "my child has a fever", "how do I call legevakt", "this rent is killing me",
     "røykvarsleren piper", "fire barn i familien", "smoke detector beeping"],
)
def test_ordinary_questions_do_not_fire(net: SafetyNet, text: str) -> None:
    assert net.match(text) is None


def test_a_broken_pattern_fails_at_start_up(tmp_path: Path) -> None:
    (tmp_path / "xx.yml").write_text("language: xx\npatterns:\n  - '(unclosed'\n", encoding="utf-8")
    with pytest.raises(re.error):
        SafetyNet.from_directory(tmp_path)


def test_no_patterns_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SafetyNet.from_directory(tmp_path)


@pytest.mark.parametrize(("text", "alarm"), [
    ("Я беременна, на прошлой неделе было кровотечение, врач сказал всё хорошо. Как найти fastlege?", False),
    ("На прошлой неделе было кровотечение, а сейчас снова сильное кровотечение, я беременна", True),
    ("Я беременна, неделю назад было кровотечение, кровь идёт снова", True),
])
def test_bleeding_that_is_over_is_calm_but_bleeding_again_now_is_not(net: SafetyNet, text: str, alarm: bool) -> None:
    """The exclusion for bleeding told as past must not hide bleeding that has started again."""
    assert (net.match(text, prefer="ru", reliable=True) is not None) is alarm


@pytest.mark.parametrize(("text", "alarm"), [
    ("صاحبي حط على الانستا صورة حبل وكتب تحتها وداعا، وما عم يرد على التلفون", True),
    ("اختي بعتتلي سامحيني مع صورة شفرات، وتلفونها مطفي وهي لحالها بالبيت", True),
    ("كتبت للمعلمة سامحيني على التأخير، ابني عنده حبوب من الدكتور وهو لحاله بالبيت اليوم", False),
])
def test_someone_elses_farewell_with_a_means_while_unreachable_is_an_emergency(net: SafetyNet, text: str,
                                                                                alarm: bool) -> None:
    """A farewell posted or sent by someone else ("forgive me", "goodbye") with a razor, rope or pills
    while they cannot be reached is suicide; "forgive me for being late" is politeness."""
    match = net.match(text, prefer="ar", reliable=True)
    assert (match is not None and match.kind == "suicide") is alarm


# Ordinary worries told with danger words, each a kind that raised a false alarm (issue 17): symptoms that
# come and go and are not there now, medicine running out, shooting in a film, violence that is over and
# the person safe, "drowning in letters", "never been away from me", "N years ago" (ru года), smoke from
# burnt food, "nobody hits anybody", "the bills will kill me", a damp flat "we cannot breathe", the
# ambulance number asked "just to know", a first-aid class, "I will die of fear", "a little blood, fine now".
CALM_WITH_DANGER_WORDS = [
    ("en", "I get chest pain now and then when I'm nervous and it passes quickly. No pain right now, and my heart was checked last month and it was normal."),
    ("en", "I have used my cholesterol tablets for years and I'm running out of them, how do I get more?"),
    ("en", "my daughter watched a film with a lot of shooting and now she can't sleep. what age limits do films have here?"),
    ("en", "my first husband beat me back home. I am safe now in Norway but I want to talk to someone about it"),
    ("en", "drowning in NAV letters this week, I don't understand any of them"),
    ("nb", "sønnen min har aldri vært borte fra meg før, og han gråter i barnehagen hver morgen"),
    ("nb", "vi drukner i regningsbrev etter flyttingen"),
    ("ru", "три года назад муж меня избил, теперь мы живём отдельно, но я до сих пор боюсь громких голосов"),
    ("ru", "я утонула в бумагах от NAV, с чего начать?"),
    ("ru", "подгорели блины, вся кухня в дыму. как быстро проветрить?"),
    ("uk", "сусіди щоночі сваряться і кричать, але ніхто нікого не б'є. дитина прокидається, куди скаржитись?"),
    ("ar", "الفواتير رح تقتلني هالشهر، كيف بقسطها؟"),
    ("ar", "ريحة العفن بالحمام ما عاد فينا نتنفس، شو بعمل مع صاحب البيت؟"),
    ("ar", "زوجي السابق ضربني قبل ثلاث سنين، هلق انا بامان بس بدي احكي مع حدا"),
    ("fa", "شماره آمبولانس نروژ چیه؟ فقط می‌خوام بدونم"),
    ("fa", "کلاس کمک‌های اولیه هست؟ میخوام یاد بگیرم اگه بچه چیزی تو گلوش گیر کنه چیکار کنم"),
    ("ti", "ንሓበሬታ ጥራይ፡ ቁጽሪ ኣምቡላንስ እንታይ እዩ?"),
    ("ti", "ፈተና ጽባሕ እዩ ብፍርሒ ክመውት እየ"),
    ("so", "wiilkeyga sanka dhiig yar ayaa ka yimid, hadda wuu fiican yahay"),
    ("so", "qolka caaryada ayaa ku jirta, hawada neefsi ma leh"),
]

# The same settings with danger now: the exclusions above must not hide them.
DANGER_IN_THE_SAME_SETTINGS = [
    ("en", "my husband is beating me right now"),
    ("en", "sudden chest pain right now going into my left arm"),
    ("en", "my son swallowed my sleeping tablets"),
    ("ru", "муж меня избил, я заперлась в ванной"),
    ("ru", "в квартире все в дыму, ничего не видно"),
    ("ar", "جوزي رح يقتلني هلق"),
    ("ar", "جوزي قالي لما يرجع من الشغل رح يقتلني، وهو بالطريق"),
    ("ar", "ابني ما عم يتنفس"),
    ("uk", "за стіною щоночі б'ють дитину, вона кричить"),
    ("ti", "ክመውት ደልየ"),
    ("so", "dhiig badan ayaa ka socda madaxa"),
    ("fa", "بچه‌ام یه چیزی تو گلوش گیر کرده نفس نمی‌کشه"),
    ("nb", "sønnen min på 6 er borte, vi finner ham ikke"),
]


@pytest.mark.parametrize(("lang", "text"), CALM_WITH_DANGER_WORDS)
def test_ordinary_worries_with_danger_words_are_calm(net: SafetyNet, lang: str, text: str) -> None:
    assert net.match(text, prefer=lang, reliable=True) is None


@pytest.mark.parametrize(("lang", "text"), DANGER_IN_THE_SAME_SETTINGS)
def test_danger_now_in_the_same_settings_still_alarms(net: SafetyNet, lang: str, text: str) -> None:
    assert net.match(text, prefer=lang, reliable=True) is not None
