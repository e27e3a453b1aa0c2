"""The vision step: a vision-language model (Qwen3-VL on vLLM) reads a customer's image for
the support agent: its text, what it shows, and any order, bill or error numbers.

The call goes through the LLM client with the vision endpoint's own settings, so it has its
own deadlines, retries, concurrency limit and circuit breaker: a vision endpoint that is
down never slows the chat model's answers, nor the reverse. Thinking is off.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from app.attachments.intake import CleanImage, scaled_for_model
from app.core.config import LLMSettings
from app.core.vision_settings import VisionSettings
from app.llm import BreakerState, LLMClient

PROMPTS = Path(__file__).resolve().parents[2] / "prompts" / "vision.yaml"


@dataclass(frozen=True)
class VisionPrompts:
    version: str
    raw: dict[str, Any]

    def text(self, key: str, lang: str) -> str:
        return str(self.raw[key]["zh" if lang == "zh" else "en"])


@lru_cache(maxsize=2)
def prompts(path: Path = PROMPTS) -> VisionPrompts:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return VisionPrompts(version=str(raw["version"]), raw=raw)


def llm_settings(settings: VisionSettings) -> LLMSettings:
    """The LLM client's settings for the vision endpoint (every field given: none is read
    from the chat model's ``KEFU_LLM_*``)."""
    return LLMSettings(
        base_url=settings.base_url,
        model=settings.model,
        api_key=settings.api_key,
        connect_timeout=settings.connect_timeout,
        first_token_timeout=settings.first_token_timeout,
        total_timeout=settings.total_timeout,
        max_concurrency=settings.max_concurrency,
        max_retries=settings.max_retries,
        breaker_failures=settings.breaker_failures,
        breaker_reset=settings.breaker_reset,
        thinking="off",
        max_tokens=settings.max_tokens,
        thinking_max_tokens=settings.max_tokens,
        temperature=settings.temperature,
        top_p=0.8,
        top_k=20,
        presence_penalty=0.0,
        thinking_temperature=settings.temperature,
        thinking_top_p=0.8,
        thinking_top_k=20,
        thinking_presence_penalty=0.0,
    )


def data_url(image: CleanImage) -> str:
    return f"data:{image.content_type};base64,{base64.b64encode(image.data).decode('ascii')}"


class VisionClient:
    """One per process (built in the lifespan when ``KEFU_VL_BASE_URL`` is set)."""

    def __init__(self, settings: VisionSettings, *, llm: LLMClient | None = None) -> None:
        self._settings = settings
        self._llm = llm or LLMClient(llm_settings(settings))

    @property
    def model(self) -> str:
        return self._llm.model

    @property
    def breaker_state(self) -> BreakerState:
        return self._llm.breaker_state

    async def health(self) -> bool:
        return await self._llm.health()

    async def aclose(self) -> None:
        await self._llm.aclose()

    async def describe(self, image: CleanImage, *, lang: str) -> str:
        """What the image shows, for the agent; raises ``LLMError`` when it cannot say."""
        sent = scaled_for_model(image, self._settings.send_max_edge)
        messages = [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": data_url(sent)}},
                    {"type": "text", "text": prompts().text("describe", lang)},
                ],
            }
        ]
        result = await self._llm.complete(messages, thinking=False)
        return result.text.strip()
