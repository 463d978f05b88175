"""The one way into an image: every decode, thumbnail and format sniff goes through
`open_image`, which checks the bytes, the format and the pixel count from the header before
any pixel is decoded, then `load_rgb` decodes within the process's decode budget, shrinking
as early as the format allows (JPEG draft, integer `reduce`) and converting any mode to RGB.

Pillow's own bomb guard (`Image.MAX_IMAGE_PIXELS`, warn at 89 MP, raise at 179 MP) is left
as Pillow sets it; our limits are lower and checked first.

Limits (README's limits table copies these):

- MAX_BYTES 20 MiB: an encoded image file; Open Images originals are a few MB, and Cloud
  Vision takes at most ~7.5 MB raw anyway (larger files are shrunk before sending).
- MAX_PIXELS 40 MP: width x height from the header, checked before any decode (Pillow's
  own guard starts at 89 MP). Open Images originals are a few tens of MP at most (the
  resized set 1024 px on a side); 50 MP let one RGBA PNG cost 410 MB.
- BYTES_PER_PIXEL: what a decode peaks at per pixel, by kind, measured
  (tests/bench/decode_memory.py) and rounded up; `decode_cost` estimates a decode with it.
- DECODE_BUDGET 340 MB: the estimated bytes being decoded at once in one process, across
  threads; exactly one worst case at the limit (40 MP RGBA x 8.5 B/px), or dozens of
  ordinary photos. A decode that would go over waits. This bounds a function's decode
  memory whatever its concurrency (the arithmetic is in functions/functions.toml).
- MIN_SIDE 8 px: smaller images carry nothing to classify.
- ALLOWED_FORMATS: JPEG, MPO (a JPEG with extra frames, from phones), PNG, GIF, BMP, WEBP,
  TIFF; what photos come as and what Cloud Vision takes. Anything else (EPS, which runs
  Ghostscript, PSD, SVG, PDF, ICO, ...) is refused without Pillow trying its plugin.
"""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import ExifTags, Image, ImageFile, UnidentifiedImageError

from ..errors import OIEError

MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000
# Peak bytes per pixel while decoding, measured (tests/bench/decode_memory.py) and rounded up:
# an RGBA PNG holds the image and its premultiplied copy (8.2), I;16 the 32-bit copy (6.3;
# a 32-bit I TIFF 4.3),
# RGB and palette images the 4-byte pixels and a conversion (4.2, 5.2), a progressive JPEG
# its coefficients (3.1; a baseline JPEG is decoded at 1/8 scale, ~0).
BYTES_PER_PIXEL = {"alpha": 8.5, "wide": 7.0, "other": 5.5, "progressive": 3.5}
DECODE_BUDGET = int(MAX_PIXELS * BYTES_PER_PIXEL["alpha"])  # 340 MB: one worst case at the limit
MIN_SIDE = 8
ALLOWED_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP", "TIFF")
_OPENERS = tuple(f for f in ALLOWED_FORMATS if f != "MPO")  # JPEG's opener finds MPOs
THUMBNAIL_SIDE = 320
REDUCING_GAP = 3.0  # shrink by integer factors while the image stays 3x the target

ImageFile.LOAD_TRUNCATED_IMAGES = False


class RejectedImage(OIEError, ValueError):
    """Input that is not a usable image; permanent, the message says why."""

    status = 422


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_BYTES
    max_pixels: int = MAX_PIXELS


DEFAULT_LIMITS = Limits()

EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "BMP": "bmp", "GIF": "gif", "WEBP": "webp",
              "TIFF": "tif", "MPO": "jpg"}  # fmt: skip


class DecodeBudget:
    """At most `limit` bytes (as estimated by `decode_cost`) of decoding at once in this
    process: a decode that would go over waits for others to finish."""

    def __init__(self, limit: int):
        self.limit = limit
        self.in_use = 0
        self._free = threading.Condition()

    @contextmanager
    def hold(self, cost: int) -> Iterator[None]:
        cost = min(cost, self.limit)  # never more than all of it
        with self._free:
            self._free.wait_for(lambda: self.in_use + cost <= self.limit)
            self.in_use += cost
        try:
            yield
        finally:
            with self._free:
                self.in_use -= cost
                self._free.notify_all()


BUDGET = DecodeBudget(DECODE_BUDGET)


def decode_cost(image: Image.Image, progressive: bool = False, full: int = 0) -> int:
    """Peak bytes of decoding an opened image (after any JPEG draft), from the measured bytes
    per pixel of its mode (tests/bench/decode_memory.py)."""
    width, height = image.size
    if progressive:  # full-size coefficients, whatever the draft
        return int(full * BYTES_PER_PIXEL["progressive"])
    alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    wide = image.mode.startswith("I") or image.mode == "F"
    key = "alpha" if alpha else "wide" if wide else "other"
    return int(width * height * BYTES_PER_PIXEL[key])


def open_image(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Image.Image:
    """The image, opened but not decoded, after the byte, format and pixel checks."""
    if not data:
        raise RejectedImage("empty file")
    if len(data) > limits.max_bytes:
        raise RejectedImage(f"file is {len(data):,} bytes; the limit is {limits.max_bytes:,}")
    try:
        image = Image.open(io.BytesIO(data), formats=_OPENERS)
    except UnidentifiedImageError as exc:
        other = _other_format(data)
        if other is None:
            raise RejectedImage("not an image Pillow can read") from exc
        raise RejectedImage(
            f"this site does not accept {other} images; accepted formats: "
            f"{', '.join(ALLOWED_FORMATS)}"
        ) from exc
    except Image.DecompressionBombError as exc:  # beyond even Pillow's limit
        raise RejectedImage(
            f"image has too many pixels; the limit is {limits.max_pixels:,}"
        ) from exc
    except Exception as exc:  # corrupt headers raise many kinds of errors
        raise RejectedImage(f"unreadable image header: {exc}") from exc
    width, height = image.size
    if width * height > limits.max_pixels:
        raise RejectedImage(
            f"image is {width}x{height} = {width * height:,} pixels; "
            f"the limit is {limits.max_pixels:,}"
        )
    return image


def _other_format(data: bytes) -> str | None:
    """The format of an image we refuse, from the prefix checks of Pillow's plugins alone
    (none is opened), or None when it is not one."""
    head = data[:1024].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "SVG"
    Image.init()
    for fmt, (_factory, accept) in Image.OPEN.items():
        try:
            if accept is not None and accept(data[:16]):
                return fmt
        except Exception:  # a plugin's check that wants more than the prefix
            continue
    return None


def sniff(data: bytes, limits: Limits = DEFAULT_LIMITS) -> tuple[str, tuple[int, int]]:
    """The format and size from the header alone, after the byte and pixel checks."""
    image = open_image(data, limits)
    return image.format or "unknown", image.size


_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}  # fmt: skip


def _scale_to_8bit(image: Image.Image) -> Image.Image:
    """I;16, I and F to L by their real range: 8-bit values as they are, 16-bit / 256,
    anything larger (or negative) stretched from its extremes; float 0..1 times 255."""
    if image.mode.startswith("I;16"):
        image = image.convert("I")
    extrema = image.getextrema()  # one band: (min, max)
    lo, hi = float(extrema[0]), float(extrema[1])  # type: ignore[arg-type]
    offset = -lo if lo < 0 else 0.0
    top = hi + offset
    if image.mode == "F" and lo >= 0 and hi <= 1.0:
        scale = 255.0
    elif top <= 255:
        scale = 1.0
    elif top <= 65535 and offset == 0:
        scale = 1 / 256
    else:
        scale = 255 / top
    return image.point(lambda v: (v + offset) * scale).convert("L")


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any mode to RGB, deliberately: transparency onto white, 16/32-bit and float scaled by
    their range, CMYK converted."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I") or image.mode == "F":
        image = _scale_to_8bit(image)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _reducible(image: Image.Image) -> Image.Image:
    """A mode `Image.reduce` averages correctly (palette indices and bits cannot be)."""
    if image.mode == "1":
        return image.convert("L")
    if image.mode in ("P", "PA"):
        return image.convert("RGBA" if image.mode == "PA" or "transparency" in image.info
                             else "RGB")  # fmt: skip
    if image.mode.startswith("I;16"):
        return image.convert("I")
    return image


def load_rgb(data: bytes, box: tuple[int, int], limits: Limits = DEFAULT_LIMITS) -> Image.Image:
    """Decode `data` to RGB, upright, shrunk by an integer factor while it stays at least
    REDUCING_GAP times `box` (JPEGs already while decoding); RejectedImage if unusable."""
    image = open_image(data, limits)
    try:
        full = image.size[0] * image.size[1]
        progressive = False
        if image.format in ("JPEG", "MPO"):  # decode at 1/2, 1/4 or 1/8 scale, >= box
            # a progressive JPEG keeps full-size coefficients all the same (PITFALLS.md)
            progressive = bool(image.info.get("progressive") or image.info.get("progression"))
            image.draft("RGB", box)
        with BUDGET.hold(decode_cost(image, progressive, full)):
            image.load()
            orientation = image.getexif().get(ExifTags.Base.Orientation)
            factor = int(min(image.size[0] / box[0], image.size[1] / box[1]) / REDUCING_GAP)
            if factor > 1:
                image = _reducible(image).reduce(factor)
            image = _to_rgb(image)
    except Exception as exc:  # truncated or corrupt data
        raise RejectedImage(f"cannot decode image: {exc}") from exc
    method = _TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    return image.transpose(method) if method is not None else image


def decode(data: bytes, size: tuple[int, int], limits: Limits = DEFAULT_LIMITS) -> Image.Image:
    """Decode `data` to an RGB image of exactly `size` (width, height), upright."""
    width, height = open_image(data, limits).size
    if min(width, height) < MIN_SIDE:
        raise RejectedImage(f"image is {width}x{height}; too small to classify")
    image = load_rgb(data, size, limits)
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=REDUCING_GAP)


def thumbnail(data: bytes) -> str | None:
    """A small JPEG data URL of an image (uploads, bucket objects), or None when it is not
    an image this module accepts."""
    try:
        image = load_rgb(data, (THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=80)
    except (RejectedImage, OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def extension(data: bytes) -> str:
    """A file extension for stored copies, from the content (never from the upload's name)."""
    try:
        fmt, _size = sniff(data, Limits(max_bytes=len(data) or 1, max_pixels=1 << 62))
    except RejectedImage:
        return "bin"
    return EXTENSIONS.get(fmt, fmt.lower())
