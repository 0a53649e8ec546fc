"""A letter's file (PDF or photo) to its text, within limits.

The type is decided by the file's first bytes, never by its name or the MIME
type a channel reports (both only show up in the error's detail). A PDF page
with a text layer is read directly (pypdfium2); a page without one, a scan,
is rendered and read by OCR (`letters.ocr`), as is a photo. Limits keep one
upload from taking the machine: file size, pages and pixels.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

import pypdfium2 as pdfium
from PIL import Image, UnidentifiedImageError

from letters import ocr
from letters.errors import NotALetter, TooBig, TooManyPages, UnsupportedType


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 10 * 1024 * 1024     # a phone photo is 2-6 MB, a letter's PDF far less
    max_pages: int = 5
    max_pixels: int = 50_000_000          # a 48 MP phone camera fits; decompression bombs do not
    scan_dpi: int = 250                   # scanned PDF pages are rendered at this resolution for OCR
    min_text_chars: int = 40              # a PDF page with fewer letters in its text layer is a scan


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class LetterText:
    """The text read from a letter's file and how it was read."""

    text: str
    pages: int
    method: str                   # "pdf_text", "pdf_ocr", "photo" ("pdf_ocr" when any page needed OCR)
    confidence: float | None      # mean OCR word confidence 0-100; None for a text PDF


IMAGE_MAGIC = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"BM", "bmp"),
)


def file_kind(data: bytes) -> str:
    """`pdf`, an image format, or `unknown`, from the file's first bytes."""
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    for magic, kind in IMAGE_MAGIC:
        if head.startswith(magic):
            return kind
    return "unknown"


def _letters_in(text: str) -> int:
    return len(re.findall(r"[^\W\d_]", text))


def read_image_bytes(data: bytes, limits: Limits = DEFAULT_LIMITS) -> LetterText:
    """A photo (or a scan saved as an image) to text."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > limits.max_pixels:
                raise TooBig(f"{image.width}x{image.height} pixels")
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooBig("too many pixels") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnsupportedType("damaged image") from exc
    result = ocr.read_image(image, photo=True)
    return LetterText(result.text, 1, "photo", round(result.confidence, 1))


def read_pdf(data: bytes, limits: Limits = DEFAULT_LIMITS) -> LetterText:
    """Each page's text layer, or its OCR when the page is a scan."""
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise UnsupportedType("damaged or password-protected PDF") from exc
    try:
        if len(pdf) > limits.max_pages:
            raise TooManyPages(f"{len(pdf)} pages")
        if len(pdf) == 0:
            raise NotALetter("no pages")
        texts: list[str] = []
        confidences: list[float] = []
        for index in range(len(pdf)):
            page = pdf[index]
            text = page.get_textpage().get_text_bounded()
            if _letters_in(text) >= limits.min_text_chars:
                texts.append(text.replace("\r\n", "\n").replace("\r", "\n"))
                continue
            width, height = page.get_size()
            scale = min(limits.scan_dpi / 72, (limits.max_pixels / max(1.0, width * height)) ** 0.5)
            image = page.render(scale=scale, grayscale=True).to_pil()
            result = ocr.read_image(image, photo=False)
            texts.append(result.text)
            confidences.append(result.confidence)
    finally:
        pdf.close()
    text = "\n\n".join(t.strip() for t in texts)
    if confidences:
        return LetterText(text, len(texts), "pdf_ocr", round(sum(confidences) / len(confidences), 1))
    return LetterText(text, len(texts), "pdf_text", None)


def read_text(data: bytes, filename: str = "", mime: str | None = None, limits: Limits = DEFAULT_LIMITS) -> LetterText:
    """The text of a letter's file; raises a `LetterError` saying why not."""
    if len(data) > limits.max_bytes:
        raise TooBig(f"{len(data)} bytes")
    kind = file_kind(data)
    if kind == "pdf":
        return read_pdf(data, limits)
    if kind != "unknown":
        return read_image_bytes(data, limits)
    raise UnsupportedType(f"not a PDF or image (name ends {filename.rsplit('.', 1)[-1][:8]!r}, type {mime!r})")
