"""Layer tables of the encoders, as plain data (no torch).

The torch backbones are built from these tables, and the runtime and benchmarks read
feature depths from them, so the two cannot disagree.
"""

from __future__ import annotations

# (stride, pointwise depth at alpha 1) of MobileNet-v1 Conv2d_1 .. Conv2d_13 (Table 2.5).
MOBILENET_V1_LAYERS: tuple[tuple[int, int], ...] = (
    (1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
    (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024),
)  # fmt: skip
MOBILENET_V1_STEM_DEPTH = 32
# Layer index (Conv2d_i) whose output is the tap at each stride.
MOBILENET_TAPS = {8: 5, 16: 11, 32: 13}
# SqueezeNet v1.1 taps: pool outputs at strides 4 and 8, last fire module at 16.
SQUEEZENET_TAP_CHANNELS = {4: 64, 8: 128, 16: 512}


def mobilenet_depth(depth: int, alpha: float, min_depth: int = 8) -> int:
    """Channel count of a layer of nominal ``depth`` at depth multiplier ``alpha``."""
    return max(int(depth * alpha), min_depth)


def mobilenet_tap_channels(alpha: float) -> dict[int, int]:
    """{stride: depth} of MobileNet-v1's stride-8, -16 and -32 taps."""
    return {s: mobilenet_depth(MOBILENET_V1_LAYERS[i - 1][1], alpha)
            for s, i in MOBILENET_TAPS.items()}
