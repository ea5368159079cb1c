"""Evaluation and benchmarks: conversation tests, retrieval metrics, latency."""
