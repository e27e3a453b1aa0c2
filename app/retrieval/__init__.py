"""Hybrid retrieval over a knowledge base: dense + BM25, fused, version-checked, diversified."""
