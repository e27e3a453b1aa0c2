"""Build a tiny, randomly initialised Qwen2-VL model directory for vLLM (nothing downloaded).

Run with the vLLM venv's python: ``.venv-vllm/bin/python tests/vllm/tiny_qwen2vl.py OUT_DIR``.

Qwen's real vocabulary and added tokens (from ``tiny_qwen3``: ``<|vision_start|>`` 151652,
``<|image_pad|>`` 151655 are the ids Qwen2-VL's config names), a Qwen2-VL chat template that
turns an image part into ``<|vision_start|><|image_pad|><|vision_end|>``, the slow
Qwen2-VL image processor, and a two-layer language model behind a one-block vision tower.
The weights are random: tests assert the structure of responses, never their words.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from tiny_qwen3 import FIRST_ADDED_ID, VOCAB_SIZE, build_tokenizer  # noqa: E402

VISION_START, IMAGE_PAD, VIDEO_PAD = FIRST_ADDED_ID + 9, FIRST_ADDED_ID + 12, FIRST_ADDED_ID + 13

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' or 'image' in part or 'image_url' in part %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_model(out: Path) -> None:
    import torch
    from transformers import GenerationConfig, Qwen2VLConfig, Qwen2VLForConditionalGeneration

    torch.manual_seed(0)
    text: dict[str, Any] = {
        "vocab_size": VOCAB_SIZE,
        "hidden_size": 128,
        "intermediate_size": 256,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "max_position_embeddings": 4096,
        "rope_theta": 1_000_000.0,
        "rope_scaling": {"type": "mrope", "mrope_section": [16, 8, 8]},  # head_dim 64 / 2
        "tie_word_embeddings": True,
        "bos_token_id": FIRST_ADDED_ID,
        "eos_token_id": FIRST_ADDED_ID + 2,
        "torch_dtype": "bfloat16",
    }
    vision: dict[str, Any] = {
        "depth": 1,
        "embed_dim": 64,
        "hidden_size": 128,  # the language model's width: the merger projects into it
        "num_heads": 1,
        "mlp_ratio": 2,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "in_channels": 3,
    }
    config = Qwen2VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=IMAGE_PAD,
        video_token_id=VIDEO_PAD,
        vision_start_token_id=VISION_START,
        tie_word_embeddings=True,
    )
    model = Qwen2VLForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        bos_token_id=FIRST_ADDED_ID, eos_token_id=[FIRST_ADDED_ID + 2, FIRST_ADDED_ID]
    )
    model.save_pretrained(out)


def build_processor(out: Path) -> None:
    from transformers import Qwen2VLImageProcessor

    # Small images: at most 64 image tokens (28x28 pixels each after the 2x2 merge).
    processor = Qwen2VLImageProcessor(min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 64)
    processor.save_pretrained(out)
    (out / "chat_template.json").write_text(
        json.dumps({"chat_template": CHAT_TEMPLATE}), encoding="utf-8"
    )
    tokenizer_config = out / "tokenizer_config.json"
    data = json.loads(tokenizer_config.read_text(encoding="utf-8"))
    data["chat_template"] = CHAT_TEMPLATE
    tokenizer_config.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: tiny_qwen2vl.py OUT_DIR")
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    build_tokenizer(out)
    build_model(out)
    build_processor(out)
    print(json.dumps({"model_dir": str(out), "files": sorted(p.name for p in out.iterdir())}))


if __name__ == "__main__":
    main()
