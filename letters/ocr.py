"""Photos and scanned pages to text: straighten, even out the light, OCR.

Tesseract (Debian's `tesseract-ocr` + `tesseract-ocr-nor`, installed by
`scripts/install-ocr.sh`) runs as a subprocess on an image piped to it, so
nothing is written to disk. Before it, a phone photo is evened out (divided by
its own blurred background, which removes shadows and the table around the
page), thresholded (Otsu) and turned straight by a projection profile: the
angle at which the rows of ink are sharpest. A page on its side or upside
down is turned by Tesseract's orientation detection (OSD), which is tried
only when the first reading is poor, since it costs a second pass.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from letters.errors import CutOff, LetterError, NotALetter, Unreadable

LANGUAGE = "nor"
MAX_OCR_SIDE = 3000          # longer photos are scaled down: a page needs no more for 10 pt text
OCR_TIMEOUT_SECONDS = 60
MIN_WORDS = 12               # fewer readable words than this is no letter
MIN_CONFIDENCE = 60.0        # mean word confidence (0-100) below this is unreadable
MIN_CONTRAST = 25            # grey levels between the darkest and brightest parts of a photo
MIN_BRIGHTNESS = 35          # mean grey level of a photo (0-255)
MIN_SHARPNESS = 40.0         # variance of the Laplacian at 1000 px: below it, the photo is blurred
EDGE_FRACTION = 0.05         # a text line this close to the left or right edge runs into it


@dataclass(frozen=True)
class OcrLine:
    text: str
    left: int
    right: int


@dataclass(frozen=True)
class OcrResult:
    """What Tesseract read from one page: its text and how sure it was."""

    text: str
    confidence: float        # mean confidence of the words, weighted by length (0-100)
    words: int               # words read with some confidence
    width: int
    lines: tuple[OcrLine, ...]


def tesseract_available() -> bool:
    return shutil.which("tesseract") is not None


def _run_tesseract(image: Image.Image, *args: str) -> str:
    if not tesseract_available():
        raise LetterError("tesseract is not installed (scripts/install-ocr.sh)")
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    # One thread per page: on a shared 2-core machine Tesseract's OpenMP threads cost more than they give.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    proc = subprocess.run(["tesseract", "stdin", "stdout", *args], input=buf.getvalue(), capture_output=True,
                          timeout=OCR_TIMEOUT_SECONDS, env=env, check=False)
    if proc.returncode != 0:
        raise Unreadable("tesseract failed")
    return proc.stdout.decode("utf-8", errors="replace")


def _parse_tsv(tsv: str, width: int) -> OcrResult:
    """Lines of text from Tesseract's TSV, blank lines between its blocks."""
    rows = list(csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE))
    lines: dict[tuple[int, int, int], list[dict[str, str]]] = {}
    for row in rows:
        if row.get("level") == "5" and (row.get("text") or "").strip():
            lines.setdefault((int(row["block_num"]), int(row["par_num"]), int(row["line_num"])), []).append(row)
    out: list[str] = []
    ocr_lines: list[OcrLine] = []
    weight = score = 0.0
    words = 0
    last_block = None
    for (block, _par, _line), items in sorted(lines.items()):
        if last_block is not None and block != last_block:
            out.append("")
        last_block = block
        out.append(" ".join(item["text"].strip() for item in items))
        left = min(int(item["left"]) for item in items)
        right = max(int(item["left"]) + int(item["width"]) for item in items)
        ocr_lines.append(OcrLine(out[-1], left, right))
        for item in items:
            conf = float(item["conf"])
            if conf < 0:
                continue
            n = len(item["text"].strip())
            weight += n
            score += conf * n
            if conf >= 30:
                words += 1
    return OcrResult("\n".join(out), score / weight if weight else 0.0, words, width, tuple(ocr_lines))


def ocr(image: Image.Image) -> OcrResult:
    """Tesseract's reading of a prepared (grey or black-and-white) page."""
    return _parse_tsv(_run_tesseract(image, "-l", LANGUAGE, "--psm", "3", "tsv"), image.width)


def orientation(image: Image.Image) -> int:
    """Degrees to turn the page counter-clockwise so it stands upright (0 when OSD is unsure)."""
    try:
        out = _run_tesseract(image, "--psm", "0", "-l", "osd")
    except Unreadable:
        return 0          # too little text to tell
    values = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    try:
        rotate = int(values.get("Rotate", "0").strip())
        confidence = float(values.get("Orientation confidence", "0").strip())
    except ValueError:
        return 0
    return rotate if confidence >= 1.0 else 0


def _as_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32)


def sharpness(gray: Image.Image) -> float:
    """Variance of the Laplacian at 1000 px wide: low when the photo is blurred."""
    small = gray.resize((1000, max(1, round(gray.height * 1000 / gray.width))), Image.BILINEAR)
    a = _as_array(small)
    lap = a[1:-1, :-2] + a[1:-1, 2:] + a[:-2, 1:-1] + a[2:, 1:-1] - 4 * a[1:-1, 1:-1]
    return float(lap.var())


def flatten_light(gray: Image.Image) -> Image.Image:
    """Divide by the page's own background: shadows and gradients go, ink stays dark."""
    factor = 8
    small = gray.resize((max(1, gray.width // factor), max(1, gray.height // factor)), Image.BILINEAR)
    background = small.filter(ImageFilter.MaxFilter(5)).filter(ImageFilter.GaussianBlur(3))
    background = background.resize(gray.size, Image.BILINEAR)
    a = _as_array(gray)
    b = np.maximum(_as_array(background), 1.0)
    return Image.fromarray(np.clip(a / b * 255.0, 0, 255).astype(np.uint8))


def otsu_threshold(gray: Image.Image) -> int:
    """The grey level that best splits ink from paper (Otsu's method)."""
    hist = np.bincount(np.asarray(gray, dtype=np.uint8).ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    levels = np.arange(256)
    weight0 = np.cumsum(hist)
    weight1 = total - weight0
    mean0 = np.cumsum(hist * levels)
    mean_all = mean0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mean_all * weight0 / total - mean0) ** 2 / (weight0 * weight1 / total)
    return int(np.nanargmax(between))


def skew_angle(binary: Image.Image, limit: float = 10.0) -> float:
    """The rotation (degrees, counter-clockwise) that makes the rows of ink sharpest.

    A projection profile: the ink is sheared by each candidate angle and
    counted per row; straight lines of text give the most sharply changing
    counts. Shearing the ink's coordinates is much faster than rotating the
    image and, for angles this small, the same.
    """
    width = 600
    small = binary.resize((width, max(1, round(binary.height * width / binary.width))), Image.BILINEAR)
    ys, xs = np.nonzero(np.asarray(small) < 128)
    if len(ys) == 0:
        return 0.0

    def score(angle: float) -> float:
        rows = np.round(ys + xs * np.tan(np.radians(angle))).astype(np.int64)
        counts = np.bincount(rows - rows.min()).astype(np.float64)
        return float(np.square(np.diff(counts)).sum())

    coarse = max(np.arange(-limit, limit + 0.5, 0.5), key=score)
    fine = max(np.arange(coarse - 0.5, coarse + 0.51, 0.1), key=score)
    return float(round(-fine, 1))      # shear angle and PIL's counter-clockwise rotation have opposite signs


def check_light(gray: Image.Image) -> None:
    """Refuse a photo that is too dark or has no contrast before spending OCR on it."""
    a = np.asarray(gray.resize((400, max(1, round(gray.height * 400 / gray.width)))), dtype=np.uint8)
    low, high = np.percentile(a, [2, 98])
    if a.mean() < MIN_BRIGHTNESS or high - low < MIN_CONTRAST:
        raise Unreadable("too dark or no contrast")


def prepare(image: Image.Image) -> Image.Image:
    """Grey, evened out, thresholded and straightened: what Tesseract reads best."""
    gray = ImageOps.exif_transpose(image).convert("L")
    longest = max(gray.size)
    if longest > MAX_OCR_SIDE:
        scale = MAX_OCR_SIDE / longest
        gray = gray.resize((round(gray.width * scale), round(gray.height * scale)), Image.LANCZOS)
    check_light(gray)
    flat = flatten_light(gray)
    threshold = otsu_threshold(flat)
    binary = flat.point(lambda v: 255 if v > threshold else 0)
    angle = skew_angle(binary)
    if abs(angle) >= 0.2:
        binary = binary.rotate(angle, resample=Image.BILINEAR, expand=True, fillcolor=255)
        binary = binary.point(lambda v: 255 if v > 127 else 0)
    return binary


def check_cut_off(result: OcrResult) -> None:
    """Text that runs to one edge of the photo, with no paper margin there, means part of the page is outside.

    On a whole page the text has a margin of paper (and table) on both sides;
    a photo that misses the right part of the page has lines ending at its
    edge while the left margin is still wide (and the other way round).
    """
    long_lines = [line for line in result.lines if len(line.text) >= 12]
    if len(long_lines) < 5:
        return
    near = result.width * EDGE_FRACTION
    needed = max(3, 0.15 * len(long_lines))
    left_margin = min(line.left for line in long_lines)
    right_margin = result.width - max(line.right for line in long_lines)
    at_right = sum(1 for line in long_lines if line.right >= result.width - near)
    at_left = sum(1 for line in long_lines if line.left <= near)
    if (at_right >= needed and right_margin < 0.3 * left_margin) or (at_left >= needed and left_margin < 0.3 * right_margin):
        raise CutOff("text runs off the edge")


def read_image(image: Image.Image, *, photo: bool = True) -> OcrResult:
    """Read one page image; raise when it is unreadable, cut off or no text at all."""
    page = prepare(image)
    result = ocr(page)
    if result.confidence < MIN_CONFIDENCE or result.words < MIN_WORDS:
        turn = orientation(page)
        if turn:
            turned = ocr(page.rotate(turn, expand=True))
            if turned.confidence > result.confidence:
                result = turned
    if result.words < MIN_WORDS:
        gray = ImageOps.exif_transpose(image).convert("L")
        if sharpness(flatten_light(gray)) < MIN_SHARPNESS:
            raise Unreadable("blurred")
        raise NotALetter("no text")
    if result.confidence < MIN_CONFIDENCE:
        raise Unreadable("low OCR confidence")
    if photo:
        check_cut_off(result)
    return result
