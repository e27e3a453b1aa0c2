"""What intake lets through, and what it makes of it (no model, no database)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app.attachments import intake
from app.core.errors import AppError
from app.core.vision_settings import VisionSettings
from tests.attachments.images import CAMERA_SERIAL, FAKE_JPEG, has_exif, photo, pixel_bomb


def limits(**values: object) -> VisionSettings:
    return VisionSettings(_env_file=None, **values)  # type: ignore[arg-type]


def test_a_photo_is_re_encoded_without_its_exif() -> None:
    original = photo()
    assert has_exif(original) and CAMERA_SERIAL.encode() in original
    clean = intake.clean(original, limits())
    assert clean.content_type == "image/jpeg"
    assert (clean.width, clean.height) == (320, 200)
    assert not has_exif(clean.data)
    assert CAMERA_SERIAL.encode() not in clean.data
    with Image.open(io.BytesIO(clean.data)) as image:
        assert image.getpixel((10, 10))[0] > 150  # still the same red picture


def test_transparency_is_kept_as_png() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (40, 30), (0, 0, 255, 100)).save(out, format="PNG")
    clean = intake.clean(out.getvalue(), limits())
    assert clean.content_type == "image/png"


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (FAKE_JPEG, 415, "not_an_image"),
        (pixel_bomb(), 422, "image_too_many_pixels"),
        (pixel_bomb(7000, 7000), 422, "image_too_many_pixels"),  # under Pillow's own limit
        (b"\xff\xd8\xff\xe0" + b"\x00" * 300, 422, "invalid_image"),  # a JPEG's start only
    ],
)
def test_refused(data: bytes, status: int, code: str) -> None:
    with pytest.raises(AppError) as refused:
        intake.clean(data, limits())
    assert (refused.value.status_code, refused.value.code) == (status, code)


def test_too_many_bytes_is_refused_before_decoding() -> None:
    with pytest.raises(AppError) as refused:
        intake.clean(photo(), limits(max_image_bytes=1024))
    assert (refused.value.status_code, refused.value.code) == (413, "image_too_large")


def test_the_model_gets_a_smaller_copy_of_a_large_image() -> None:
    clean = intake.clean(photo(3000, 1000), limits())
    sent = intake.scaled_for_model(clean, 1600)
    assert (sent.width, sent.height) == (1600, 533)
