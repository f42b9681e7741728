"""Inputs: collections (BEIR, JSONL, CSV/TSV, Parquet, MTEB), precomputed vectors, the embedding cache."""
