"""Test letters as a text PDF (fpdf2) and as a phone photo of the printed page (Pillow).

A case's `letter` text is laid out as an A4 letter: the first line is the
letterhead (bold), a line starting with `# ` is a heading (bold), the rest is
body text wrapped to the page. The photo renders that PDF (pypdfium2), lays
it on a table, turns it a few degrees, narrows its top a little (the phone
held at a slant), puts a shadow across it, blurs it a little, adds sensor noise and saves it as a JPEG, all from a seed, so the
same case always gives the same photo.
"""

from __future__ import annotations

import io
import random

import numpy as np
import pypdfium2 as pdfium
from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos
from PIL import Image, ImageFilter

# fpdf2's core fonts are Latin-1: æøå are in it; these are not.
_REPLACE = {"\u2013": "-", "\u2014": "-", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2022": "-"}


def _latin1(text: str) -> str:
    for bad, good in _REPLACE.items():
        text = text.replace(bad, good)
    return text


def letter_pdf(letter: str) -> bytes:
    """An A4 text PDF of the letter."""
    pdf = FPDF(format="A4")
    pdf.set_margins(22, 20, 22)
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    lines = _latin1(letter.strip("\n")).split("\n")
    pdf.set_font("Helvetica", "B", 15)
    nl = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}
    pdf.multi_cell(0, 7, lines[0], **nl)
    for line in lines[1:]:
        if line.startswith("# "):
            pdf.ln(2)
            pdf.set_font("Helvetica", "B", 12)
            pdf.multi_cell(0, 6, line[2:], **nl)
            pdf.ln(1)
        elif line.startswith("> "):
            pdf.set_font("Helvetica", "", 10.5)
            pdf.multi_cell(0, 5, line[2:], align=Align.R, **nl)
        elif not line.strip():
            pdf.ln(3)
        else:
            pdf.set_font("Helvetica", "", 10.5)
            pdf.multi_cell(0, 5, line, **nl)
    return bytes(pdf.output())


def page_image(pdf: bytes, dpi: int = 200) -> Image.Image:
    """The PDF's first page as an RGB image."""
    doc = pdfium.PdfDocument(pdf)
    try:
        return doc[0].render(scale=dpi / 72).to_pil().convert("RGB")
    finally:
        doc.close()


def _keystone(image: Image.Image, amount: float, fill: tuple[int, ...]) -> Image.Image:
    """The top of the picture narrower than the bottom by `amount` of the width on each side."""
    w, h = image.size
    inset = amount * w
    # Where each corner of the output comes from in the input (PIL's perspective maps output to input).
    source = [(-inset, 0), (w + inset, 0), (w, h), (0, h)]
    target = [(0, 0), (w, 0), (w, h), (0, h)]
    rows = []
    for (x, y), (u, v) in zip(target, source, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    coeffs = np.linalg.solve(np.array(rows, dtype=float), np.array([c for p in source for c in p], dtype=float))
    return image.transform(image.size, Image.PERSPECTIVE, tuple(coeffs), Image.BICUBIC, fillcolor=fill)


def photo(pdf: bytes, seed: int, *, dpi: int = 200, blur: float | None = None, crop: float = 1.0,
          darkness: float = 1.0) -> bytes:
    """A JPEG like a phone photo of the printed page (seeded)."""
    rng = random.Random(seed)
    page = page_image(pdf, dpi)
    if crop < 1.0:                                  # the photo misses the right part of the page
        page = page.crop((0, 0, round(page.width * crop), page.height))
    margin = round(page.width * 0.06)
    table = tuple(rng.randint(60, 120) for _ in range(3))
    canvas = Image.new("RGB", (page.width + 2 * margin, page.height + 2 * margin), table)
    canvas.paste(page, (margin, margin))
    angle = rng.choice([-1, 1]) * rng.uniform(1.0, 4.0)
    canvas = canvas.rotate(angle, resample=Image.BICUBIC, fillcolor=table)
    canvas = _keystone(canvas, rng.uniform(0.0, 0.03), table)     # the phone is not held quite parallel
    if crop < 1.0:
        canvas = canvas.crop((0, 0, canvas.width - margin - round(canvas.width * 0.02), canvas.height))
    a = np.asarray(canvas, dtype=np.float32)
    h, w = a.shape[:2]
    theta = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    ramp = (np.cos(theta) * xx / w + np.sin(theta) * yy / h)
    ramp = (ramp - ramp.min()) / max(1e-6, ramp.max() - ramp.min())
    shade = 0.55 + 0.45 * ramp                       # a shadow across the page
    a = a * shade[..., None] * darkness
    a += np.random.default_rng(seed).normal(0, 5.0, a.shape)
    image = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    image = image.filter(ImageFilter.GaussianBlur(blur if blur is not None else rng.uniform(0.6, 1.1)))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=rng.randint(70, 85))
    return buf.getvalue()
