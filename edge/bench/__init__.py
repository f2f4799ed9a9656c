"""Benchmarks behind ``edge-bench``. They print figures; no test asserts a timing."""
