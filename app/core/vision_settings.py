"""Settings of the vision step: the vision-language endpoint (Qwen3-VL on vLLM) that reads
customers' images, and the limits every image passes before anything is stored for it.
Composed into ``Settings`` as ``settings.vision``; the environment names are ``KEFU_VL_*``.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class VisionSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KEFU_VL_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    base_url: str | None = Field(
        None,
        description="OpenAI-compatible endpoint of a vision-language model (vLLM: "
        "http://host:8001/v1). Unset: images are stored for human agents and the customer "
        "is asked to describe them or offered a person.",
    )
    model: str = Field(
        "Qwen/Qwen3-VL-8B-Instruct", description="Vision-language model name sent to it."
    )
    api_key: SecretStr | None = Field(None, description="Bearer key for the endpoint, if any.")
    connect_timeout: float = Field(3.0, gt=0, description="Seconds to open a connection.")
    first_token_timeout: float = Field(
        20.0, gt=0, description="Seconds to the first token (an image's prefill is long)."
    )
    total_timeout: float = Field(40.0, gt=0, description="Seconds for a whole description.")
    max_concurrency: int = Field(8, ge=1, description="Requests in flight per process.")
    max_retries: int = Field(1, ge=0, le=5, description="Retries before the first token only.")
    breaker_failures: int = Field(5, ge=1, description="Failures in a row that open the breaker.")
    breaker_reset: float = Field(30.0, gt=0, description="Seconds before an open breaker retries.")
    max_tokens: int = Field(600, ge=16, description="Longest description, in tokens.")
    # Reading text wants little sampling noise: lower than the chat defaults.
    temperature: float = Field(0.2, ge=0, le=2, description="Sampling temperature.")
    send_max_edge: int = Field(
        1600,
        ge=224,
        description="Longest side, in pixels, of the copy sent to the model (larger images "
        "are scaled down: fewer image tokens, same legible text).",
    )
    max_image_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest image accepted, in bytes."
    )
    max_image_pixels: int = Field(
        40_000_000,
        ge=10_000,
        description="Largest image accepted, in pixels (width x height): the guard against "
        "decompression bombs, checked from the header before the image is decoded.",
    )
    max_images_per_turn: int = Field(4, ge=1, le=16, description="Images in one message.")
    fetch_timeout: float = Field(
        5.0, gt=0, le=30, description="Seconds to download an image given by https URL (/v1)."
    )
    retention_days: int = Field(
        90,
        ge=1,
        description="Days stored images are kept; older ones (and widget uploads never "
        "sent) are deleted at start-up and every hour.",
    )
