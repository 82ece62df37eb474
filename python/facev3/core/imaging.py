"""Image bytes -> H x W x 3 uint8 RGB, with limits checked before the full decode.

Pillow reads the header first (format, width, height) without decoding pixels, so oversized
images and decompression bombs are refused at the cost of a header parse. EXIF orientation is
applied, like cv2.imread does, so landmarks agree whichever library a client uses.
"""

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facev3.core.errors import CorruptImage, ImageTooLarge, ImageTooSmall, UnsupportedFormat

# MPO: the multi-picture JPEG that phones write (the first picture is the photo).
SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP"})
# File signatures of the supported formats: such bytes that Pillow cannot open are corrupt.
SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM")

# Our own limits replace Pillow's global bomb check (which warns, then raises at 2x).
Image.MAX_IMAGE_PIXELS = None


@dataclass(frozen=True)
class DecodeLimits:
    max_bytes: int = 20_000_000
    max_pixels: int = 40_000_000
    min_side: int = 10


def decode_image(data: bytes, limits: DecodeLimits = DecodeLimits()) -> np.ndarray:
    """Decodes one image to a C-contiguous (H, W, 3) uint8 RGB array, or raises a FaceError."""
    if not data:
        raise CorruptImage("the image is empty (0 bytes)")
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(f"the image has {len(data):,} bytes; the limit is {limits.max_bytes:,}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        if data.startswith(SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
            raise CorruptImage("the image header is invalid") from None
        raise UnsupportedFormat("not a recognised image (supported: JPEG, PNG, WebP, BMP)") from None
    except Exception as exc:  # Pillow raises many types for broken headers
        raise CorruptImage(f"the image header cannot be read: {exc}") from None
    with image:
        if image.format not in SUPPORTED_FORMATS:
            raise UnsupportedFormat(f"{image.format} images are not supported (supported: JPEG, PNG, WebP, BMP)")
        if getattr(image, "n_frames", 1) > 1 and image.format != "MPO":
            raise UnsupportedFormat("animated images are not supported")
        width, height = image.size
        if width * height > limits.max_pixels:
            raise ImageTooLarge(f"the image is {width} x {height} pixels; the limit is {limits.max_pixels:,} pixels")
        if min(width, height) < limits.min_side:
            raise ImageTooSmall(f"the image is {width} x {height} pixels; each side needs at least {limits.min_side}")
        try:
            image.load()
            # In place: otherwise Pillow copies every upright image whole, turned or not.
            ImageOps.exif_transpose(image, in_place=True)
            return _to_rgb(image)
        except (OSError, SyntaxError, ValueError) as exc:
            raise CorruptImage(f"the image data is corrupt or truncated: {exc}") from None


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey: keep the top 8 bits (Pillow's own conversion would clip at 255).
        grey = (np.asarray(image).astype(np.uint32) >> 8).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image))
