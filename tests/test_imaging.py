"""Image decoding: formats, modes, EXIF orientation and every refusal, each a typed error."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from facev3.core.errors import FaceError
from facev3.core.imaging import DecodeLimits, decode_image
from tests.support.photos import photo_path


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height: what a decompression bomb looks like up front."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(photo_path("Rob_Lowe_0001.jpg")).convert("RGB")


def test_jpeg_decodes_to_packed_rgb(photo):
    image = decode_image(photo_path("Rob_Lowe_0001.jpg").read_bytes())
    assert image.shape == (250, 250, 3) and image.dtype == np.uint8 and image.flags.c_contiguous
    assert np.abs(image.astype(int) - np.asarray(photo)).max() == 0


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "BMP"])
def test_other_formats_decode_to_the_same_pixels(photo, fmt):
    lossless = {"WEBP": {"lossless": True}}.get(fmt, {})
    np.testing.assert_array_equal(decode_image(encode(photo, fmt, **lossless)), np.asarray(photo))


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P", "LA"])
def test_every_colour_mode_becomes_rgb(photo, mode):
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    image = decode_image(encode(photo.convert(mode), fmt))
    assert image.shape == (250, 250, 3) and image.dtype == np.uint8


def test_sixteen_bit_grey_png_keeps_its_range():
    ramp = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    image = decode_image(encode(Image.fromarray(ramp), "PNG"))
    np.testing.assert_array_equal(image[..., 0], (ramp >> 8).astype(np.uint8))


def test_exif_orientation_is_applied(photo):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image = decode_image(encode(photo.crop((0, 0, 250, 100)), "JPEG", exif=exif, quality=95))
    assert image.shape == (250, 100, 3)


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 255, 0))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:])


BAD_INPUTS = {
    "empty file": (b"", "corrupt_image"),
    "truncated jpeg": (photo_path("t1.jpg").read_bytes()[:20_000], "corrupt_image"),
    "text renamed .jpg": (b"this is not an image, just text\n" * 10, "unsupported_format"),
    "20000 x 20000 png bomb": (png_header_only(20_000, 20_000), "image_too_large"),
    "0 x 0 png": (png_header_only(0, 0), "corrupt_image"),
    "1 x 1 png": (encode(Image.new("RGB", (1, 1)), "PNG"), "image_too_small"),
    "animated gif": (animated_gif(), "unsupported_format"),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_images_raise_their_typed_error(name):
    data, code = BAD_INPUTS[name]
    with pytest.raises(FaceError) as err:
        decode_image(data)
    assert err.value.code == code
    assert err.value.message


def test_compressed_size_is_checked_before_anything_else():
    with pytest.raises(FaceError) as err:
        decode_image(b"\xff\xd8\xff" + b"\0" * 2000, DecodeLimits(max_bytes=1000))
    assert err.value.code == "image_too_large"
