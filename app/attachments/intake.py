"""Every image passes here before anything is stored for it: its type is read from its
first bytes (never from its name or declared type), its size and pixel count are checked
before it is decoded, and it is decoded and encoded again by Pillow, so what is stored is
a plain image the service made itself, without EXIF (GPS position, camera serials) or
anything a malformed file could smuggle.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from app.core.errors import AppError, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from app.core.vision_settings import VisionSettings

# Image types customers send (photos, screenshots, stickers) by their magic bytes.
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"GIF87a", 0, "GIF"),
    (b"GIF89a", 0, "GIF"),
    (b"WEBP", 8, "WEBP"),
    (b"BM", 0, "BMP"),
)
JPEG_QUALITY = 88


@dataclass(frozen=True)
class CleanImage:
    """An image re-encoded by the service: safe to store, serve and send to a model."""

    data: bytes
    content_type: str  # image/jpeg or image/png
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def sniff(data: bytes) -> str | None:
    """The image format the bytes start with (PIL's name), None for anything else."""
    for magic, offset, kind in _MAGIC:
        if data[offset : offset + len(magic)] == magic and (kind != "WEBP" or data[:4] == b"RIFF"):
            return kind
    return None


def too_large(size: int, limits: VisionSettings) -> AppError:
    return PayloadTooLarge(
        f"image is {size} bytes; the largest accepted is {limits.max_image_bytes}",
        code="image_too_large",
        details={"limit_bytes": limits.max_image_bytes},
    )


def _too_many_pixels(limits: VisionSettings, size: str = "larger") -> AppError:
    return Unprocessable(
        f"image is {size} pixels; the most accepted is {limits.max_image_pixels} pixels",
        code="image_too_many_pixels",
        details={"limit_pixels": limits.max_image_pixels},
    )


def clean(data: bytes, limits: VisionSettings) -> CleanImage:
    """The image re-encoded, or a 4xx ``AppError`` naming why it is refused.

    CPU work of up to a second on a large photo: call it in a worker thread.
    """
    if len(data) > limits.max_image_bytes:
        raise too_large(len(data), limits)
    kind = sniff(data)
    if kind is None:
        raise UnsupportedMediaType(
            "not an image kefu accepts (JPEG, PNG, GIF, WebP or BMP, recognised by content)",
            code="not_an_image",
        )
    try:
        with warnings.catch_warnings():
            # Pillow warns between its limit and twice it; our own check below decides.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[kind])
            # Only the header is read so far: refuse a bomb before decoding any pixel.
            pixels = image.width * image.height
            if pixels > limits.max_image_pixels:
                raise _too_many_pixels(limits, f"{image.width}x{image.height}")
            image.seek(0)  # an animation: its first frame
            image.load()
            # Phone photos are stored sideways with an EXIF rotation: apply it, as the
            # EXIF itself is about to go.
            upright = ImageOps.exif_transpose(image)
    except AppError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own limit, far above ours
        raise _too_many_pixels(limits) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise Unprocessable(
            f"image could not be decoded ({type(exc).__name__})", code="invalid_image"
        ) from exc
    return _encode(upright)


def _encode(image: Image.Image) -> CleanImage:
    has_alpha = image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info)
    out = io.BytesIO()
    if has_alpha:
        # Screenshots and stickers with transparency stay PNG (lossless, alpha kept).
        image.convert("RGBA").save(out, format="PNG", optimize=True)
        content_type = "image/png"
    else:
        image.convert("RGB").save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        content_type = "image/jpeg"
    return CleanImage(out.getvalue(), content_type, image.width, image.height)


def scaled_for_model(image: CleanImage, max_edge: int) -> CleanImage:
    """A copy no longer than ``max_edge`` on its longest side, for the vision model."""
    if max(image.width, image.height) <= max_edge:
        return image
    with Image.open(io.BytesIO(image.data)) as opened:
        opened.thumbnail((max_edge, max_edge), Image.Resampling.LANCZOS)
        return _encode(opened.copy())
