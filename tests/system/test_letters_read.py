"""Reading a letter's file: PDFs with and without text, photos, and every way it can fail."""

import io

import numpy as np
import pytest
from fpdf import FPDF
from PIL import Image, ImageDraw

from letters import CutOff, Limits, NotALetter, TooBig, TooManyPages, Unreadable, UnsupportedType, ocr, read_letter
from letters.read import file_kind, read_text
from tests.letters.evaluate import load_cases
from tests.letters.render import letter_pdf, page_image, photo


@pytest.fixture(scope="module", autouse=True)
def tesseract() -> None:
    assert ocr.tesseract_available(), "Tesseract is missing: run scripts/install-ocr.sh"


@pytest.fixture(scope="module")
def case():
    return next(c for c in load_cases() if c.name.startswith("01-"))


@pytest.fixture(scope="module")
def pdf(case) -> bytes:
    return letter_pdf(case.letter)


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def test_the_type_comes_from_the_bytes_not_the_name(pdf: bytes) -> None:
    assert file_kind(pdf) == "pdf"
    assert file_kind(_jpeg(Image.new("RGB", (10, 10)))) == "jpeg"
    with pytest.raises(UnsupportedType):
        read_letter(b"PK\x03\x04" + b"\x00" * 100, "letter.pdf", "application/pdf")   # a .docx named .pdf


def test_a_text_pdf_is_read_without_ocr(pdf: bytes, case) -> None:
    reading = read_letter(pdf, "letter.pdf", "application/pdf")
    assert reading.method == "pdf_text" and reading.ocr_confidence is None
    assert (reading.sender.value, reading.kind.value) == (case.sender, case.kind)
    assert reading.facts.deadline.date == case.deadline


def test_a_scanned_pdf_is_read_by_ocr(pdf: bytes, case) -> None:
    scan = FPDF(format="A4")
    scan.add_page()
    buf = io.BytesIO()
    page_image(pdf, dpi=200).convert("L").save(buf, format="PNG")
    scan.image(buf, x=0, y=0, w=210)
    reading = read_letter(bytes(scan.output()), "scan.pdf", "application/pdf")
    assert reading.method == "pdf_ocr" and reading.ocr_confidence > 80
    assert reading.facts.deadline.date == case.deadline and reading.facts.amount == case.amount


def test_a_photo_upside_down_is_turned(pdf: bytes, case) -> None:
    upside_down = Image.open(io.BytesIO(photo(pdf, 5))).rotate(180)
    reading = read_letter(_jpeg(upside_down), "photo.jpg", "image/jpeg")
    assert reading.method == "photo"
    assert reading.facts.deadline.date == case.deadline


def test_the_projection_profile_finds_the_skew(pdf: bytes) -> None:
    page = page_image(pdf, dpi=100).convert("L")
    for angle in (-3.0, 1.5, 4.0):
        tilted = page.rotate(angle, expand=True, fillcolor=255)
        assert ocr.skew_angle(tilted) == pytest.approx(-angle, abs=0.3)


def test_too_big() -> None:
    with pytest.raises(TooBig):
        read_letter(b"%PDF-1.4" + b"0" * (11 * 1024 * 1024), "big.pdf", None)
    with pytest.raises(TooBig):
        read_letter(_jpeg(Image.new("RGB", (2000, 1000), "white")), "wide.jpg", None, Limits(max_pixels=1_000_000))


def test_too_many_pages() -> None:
    doc = FPDF()
    doc.set_font("Helvetica", size=12)
    for n in range(6):
        doc.add_page()
        doc.cell(text=f"Side {n + 1}")
    with pytest.raises(TooManyPages):
        read_letter(bytes(doc.output()), "long.pdf", "application/pdf")


def test_a_damaged_pdf() -> None:
    with pytest.raises(UnsupportedType):
        read_letter(b"%PDF-1.7\n this is not a pdf", "broken.pdf", "application/pdf")


def test_a_black_photo_is_unreadable() -> None:
    with pytest.raises(Unreadable):
        read_letter(_jpeg(Image.new("RGB", (1200, 1600), (8, 8, 8))), "black.jpg", "image/jpeg")


def test_a_blurred_photo_is_unreadable(pdf: bytes) -> None:
    with pytest.raises(Unreadable):
        read_letter(photo(pdf, 3, blur=5.0), "blurred.jpg", "image/jpeg")


def test_a_photo_missing_the_right_part_of_the_page_is_cut_off(pdf: bytes) -> None:
    with pytest.raises(CutOff):
        read_letter(photo(pdf, 4, crop=0.62), "cut.jpg", "image/jpeg")


def test_a_photo_of_something_else_is_not_a_letter() -> None:
    rng = np.random.default_rng(1)
    picture = Image.fromarray(rng.integers(90, 200, (1200, 1600, 3), dtype=np.uint8)).resize((1600, 1200))
    draw = ImageDraw.Draw(picture)
    for _ in range(25):                                  # a street, a room: shapes and colours, no text
        x, y = rng.integers(0, 1500), rng.integers(0, 1100)
        draw.ellipse((x, y, x + rng.integers(40, 400), y + rng.integers(40, 300)),
                     fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    with pytest.raises(NotALetter):
        read_letter(_jpeg(picture), "holiday.jpg", "image/jpeg")


def test_a_page_that_is_no_letter() -> None:
    recipe = ("Lapskaus\n# Ingredienser\n500 g storfekjøtt, 6 poteter, 3 gulrøtter, 1 kålrot, 1 løk, salt og pepper.\n"
              "# Slik gjør du\nSkjær kjøttet i terninger og brun det i en gryte. Tilsett grønnsakene og vann. "
              "La det småkoke i en time til poteter og kjøtt er møre. Smak til med salt og pepper. "
              "Server med flatbrød og tyttebær.\n")
    text = read_text(letter_pdf(recipe)).text
    assert "Lapskaus" in text                            # it was read...
    with pytest.raises(NotALetter):                      # ...and is not a letter
        read_letter(letter_pdf(recipe), "recipe.pdf", "application/pdf")
