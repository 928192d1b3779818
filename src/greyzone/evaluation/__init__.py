"""Evaluation: selective-classification metrics and planted-problem benchmarks for the curated dataset."""
