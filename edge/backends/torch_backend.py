"""PyTorch backend: runs a zoo module from a checkpoint for evaluation and parity tests."""

from __future__ import annotations

import numpy as np

from edge.optional import require


class TorchBackend:
    """Wraps an eval-mode :class:`~edge.models.ssd_isb.SSDISB` or FCN module."""

    def __init__(self, model, device: str = "cpu") -> None:
        self.torch = require("torch", "the PyTorch backend")
        self.device = self.torch.device(device)
        self.model = model.to(self.device).eval()

    def _tensor(self, a: np.ndarray):
        return self.torch.from_numpy(np.ascontiguousarray(a)).to(self.device)

    def detect(self, image: np.ndarray):
        with self.torch.inference_mode():
            codes, logits, taps = self.model(self._tensor(image))
        return (codes[0].cpu().numpy(), logits[0].cpu().numpy(),
                {s: t[0].cpu().numpy() for s, t in taps.items()})

    def segment(self, branch: int, crops: list[np.ndarray]) -> np.ndarray:
        with self.torch.inference_mode():
            return self.model.segment(branch, [self._tensor(c) for c in crops]).cpu().numpy()

    def segment_image(self, image: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            return self.model(self._tensor(image))[0].cpu().numpy()
