"""Safe image decoding: size and pixel limits, EXIF orientation, any mode to RGB, draft mode."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..errors import OIEError

MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 50_000_000  # well under Pillow's own bomb limit (89 MP warns, 179 MP raises)
MIN_SIDE = 8

ImageFile.LOAD_TRUNCATED_IMAGES = False
# Pillow's bomb check (warn at 89 MP, raise at 179 MP) is turned off for the whole process:
# every decode in this package calls `sniff` first, which enforces our own, lower limit
# from the header.
Image.MAX_IMAGE_PIXELS = None


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


def sniff(data: bytes, limits: Limits = DEFAULT_LIMITS) -> tuple[str, tuple[int, int]]:
    """The format and size from the header alone, after the byte and pixel checks."""
    if not data:
        raise RejectedImage("empty file")
    if len(data) > limits.max_bytes:
        raise RejectedImage(f"file is {len(data):,} bytes; the limit is {limits.max_bytes:,}")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise RejectedImage("not an image Pillow can read") from exc
    except Exception as exc:  # corrupt headers raise many kinds of errors
        raise RejectedImage(f"unreadable image header: {exc}") from exc
    width, height = image.size
    if width * height > limits.max_pixels:
        raise RejectedImage(
            f"image is {width}x{height} = {width * height:,} pixels; "
            f"the limit is {limits.max_pixels:,}"
        )
    return image.format or "unknown", (width, height)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any mode to RGB, deliberately: transparency onto white, 16-bit scaled, CMYK converted."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = image.point(lambda v: v / 256).convert("L")  # 16-bit range to 8-bit
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image.convert("RGB")


def decode(data: bytes, size: tuple[int, int], limits: Limits = DEFAULT_LIMITS) -> Image.Image:
    """Decode `data` to an RGB image of exactly `size` (width, height), upright.

    JPEGs are decoded at a reduced scale (Pillow's draft mode) when much larger than `size`.
    """
    sniff(data, limits)
    try:
        image: Image.Image = Image.open(io.BytesIO(data))
        if image.format == "JPEG":  # decode at 1/2, 1/4 or 1/8 scale, still >= size
            image.draft("RGB", size)
        image.load()
        image = ImageOps.exif_transpose(image)
    except Exception as exc:  # truncated or corrupt data
        raise RejectedImage(f"cannot decode image: {exc}") from exc
    if min(image.size) < MIN_SIDE:
        raise RejectedImage(f"image is {image.size[0]}x{image.size[1]}; too small to classify")
    image = _to_rgb(image)
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)


def extension(data: bytes) -> str:
    """A file extension for stored copies, from the content (never from the upload's name)."""
    try:
        fmt, _size = sniff(data, Limits(max_bytes=len(data) or 1, max_pixels=1 << 62))
    except RejectedImage:
        return "bin"
    return EXTENSIONS.get(fmt, fmt.lower())
