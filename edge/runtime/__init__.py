"""The streaming runtime behind ``edge-run``: sources, the embeddable :class:`Pipeline`,
rendering, outputs and the run loop. Imports no PyTorch."""

from edge.runtime.model import FrameResult, Pipeline

__all__ = ["FrameResult", "Pipeline"]
