"""Evaluation: one metric code path per task, fed by :mod:`edge.pipeline` with any backend."""
