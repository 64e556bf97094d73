"""Benchmarks for Kyso Gateway: each script compares the gateway against a baseline in the same run."""
