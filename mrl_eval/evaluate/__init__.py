"""Evaluation: prefix retrieval with exact top-k, trec_eval metrics, statistics, per-query losses, the sweep."""
