"""Images for tests, made here: a photo with EXIF GPS, a header-only pixel bomb, a file
that only claims to be a JPEG."""

from __future__ import annotations

import base64
import io
import struct
import zlib

from PIL import Image

GPS_IFD = 0x8825
CAMERA_SERIAL = "SERIAL-4711"


def photo(
    width: int = 320, height: int = 200, *, color: tuple[int, int, int] = (200, 40, 40)
) -> bytes:
    """A JPEG with EXIF: GPS position, camera serial number and an orientation."""
    image = Image.new("RGB", (width, height), color)
    exif = Image.Exif()
    exif[0x0112] = 1  # orientation
    exif[0xA431] = CAMERA_SERIAL  # BodySerialNumber
    exif[GPS_IFD] = {1: "N", 2: (31.0, 14.0, 0.0), 3: "E", 4: (121.0, 28.0, 0.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, quality=90)
    return out.getvalue()


def noisy_png(side: int) -> bytes:
    """A PNG that compresses badly: large in bytes for its pixel count."""
    import os

    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def pixel_bomb(width: int = 60_000, height: int = 60_000) -> bytes:
    """A tiny PNG whose header claims 3.6 gigapixels: decoding it would take ~10 GB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


FAKE_JPEG = b"MZ\x90\x00 this is an executable named receipt.jpg, not an image" * 20


def data_url(data: bytes, content_type: str = "image/jpeg") -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


def has_exif(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as image:
        return bool(image.getexif()) or "exif" in image.info
