"""The thesis's reported speed, memory, size and accuracy rows (Tables 4.1, 4.2, 5.4, 5.5,
5.6-5.9), as reference lines beside our measurements. Their hardware, framework, weights
and data differ from ours, so they are labelled with them and never mixed into ratios, the
Pareto front or the budget choice (``edge-bench`` rows carry only accuracy measured in the
run)."""

from __future__ import annotations

from dataclasses import dataclass

HARDWARE = "GeForce RTX 2080 Ti (GPU) / Core i9-9900K (CPU), TensorFlow"
DATA = {"mask AP@0.50": "COCO, person class (the thesis's split)",
        "mIoU": "Cityscapes, 19 classes (the thesis's split)"}


@dataclass(frozen=True)
class ThesisRow:
    table: str
    row: str  # the thesis's name for it
    config: str | None  # our zoo name (None: Mask R-CNN)
    alpha: float
    isb_skip: str
    input_size: tuple[int, int]
    fps_gpu: float
    fps_cpu: float
    memory_mb: float  # TensorFlow profiler output bytes
    params: int
    accuracy: float | None  # mask AP@0.50 on COCO person (instance) or Cityscapes mIoU
    metric: str
    data: str = ""  # the data the thesis measured the accuracy on (set from the metric)

    def __post_init__(self) -> None:
        if not self.data:
            object.__setattr__(self, "data", DATA.get(self.metric, ""))


_I = (640, 640)
_S = (1024, 2048)
ROWS: tuple[ThesisRow, ...] = (
    ThesisRow("5.5", "Single-Branch", "ssd-isb-single-branch", 1.0, "fcn8", _I, 51.95, 8.566,
              852.76, 5790631, 32.58, "mask AP@0.50"),
    ThesisRow("5.5", "Single-Shape", "ssd-isb-single-shape", 1.0, "fcn8", _I, 56.11, 12.66,
              405.89, 8862738, 8.824, "mask AP@0.50"),
    ThesisRow("5.5", "Single-Shape+", "ssd-isb-single-shape-plus", 1.0, "fcn8", _I, 43.68,
              6.259, 2179.24, 9002580, 34.86, "mask AP@0.50"),
    ThesisRow("5.5", "Multi-Shape", "ssd-isb-multi-shape", 1.0, "fcn8", _I, 43.68, 7.983,
              1909.90, 8014288, 38.60, "mask AP@0.50"),
    ThesisRow("5.5", "Mask R-CNN (ResNet-101)", None, 1.0, "", _I, 3.87, 0.38, 11927.95,
              47673551, 73.61, "mask AP@0.50"),
    ThesisRow("5.7", "SB-MN0.75", "ssd-isb-single-branch", 0.75, "fcn8", _I, 62.80, 11.57,
              523.76, 3358647, 30.77, "mask AP@0.50"),
    ThesisRow("5.7", "SB-FCN16", "ssd-isb-single-branch", 1.0, "fcn16", _I, 65.91, 11.93,
              365.63, 5765991, 29.80, "mask AP@0.50"),
    ThesisRow("5.9", "MS-MN0.75", "ssd-isb-multi-shape", 0.75, "fcn8", _I, 50.27, 10.14,
              652.33, 5211360, 35.97, "mask AP@0.50"),
    ThesisRow("5.9", "MS-FCN16", "ssd-isb-multi-shape", 1.0, "fcn16", _I, 49.90, 10.85,
              571.23, 7767888, 32.71, "mask AP@0.50"),
    ThesisRow("5.9", "MS-NewShapes", "ssd-isb-ms-newshapes", 1.0, "fcn8", _I, 39.30, 5.940,
              2314.30, 7273069, 36.73, "mask AP@0.50"),
    ThesisRow("5.9", "MS-SmallShapes", "ssd-isb-ms-smallshapes", 1.0, "fcn8", _I, 48.28, 9.203,
              825.22, 7520142, 37.88, "mask AP@0.50"),
    ThesisRow("4.2", "SqzNet-Base", "squeezenet-fcn16s", 1.0, "", _S, 43.29, 3.69, 2089.03,
              732243, 35.61, "mIoU"),
    ThesisRow("4.2", "SqzNet-FCN8", "squeezenet-fcn8s", 1.0, "", _S, 74.40, 3.74, 2122.40,
              740470, 36.22, "mIoU"),
    ThesisRow("4.2", "SqzNet-Stride8", "squeezenet-os8", 1.0, "", _S, 48.45, 2.43, 3744.08,
              732243, 36.37, "mIoU"),
    ThesisRow("4.2", "MN-Base", "mobilenet-fcn32", 0.5, "", _S, 75.47, 5.59, 1609.49, 839283,
              41.07, "mIoU"),
    ThesisRow("4.2", "MN-FCN16", "mobilenet-fcn16", 0.5, "", _S, 80.19, 5.62, 1612.21, 849942,
              43.78, "mIoU"),
    ThesisRow("4.2", "MN-FCN8", "mobilenet-fcn8", 0.5, "", _S, 46.92, 5.33, 1628.20, 858169,
              43.46, "mIoU"),
    ThesisRow("4.2", "MN-Stride16", "mobilenet-os16", 0.5, "", _S, 67.84, 5.09, 1874.31,
              839283, 42.75, "mIoU"),
    ThesisRow("4.2", "MN-Stride8", "mobilenet-os8", 0.5, "", _S, 33.61, 1.91, 5088.76, 839283,
              44.25, "mIoU"),
)


def thesis_row(config: str, alpha: float, isb_skip: str = "fcn8") -> ThesisRow | None:
    """The thesis's row for a zoo configuration, if it reported one."""
    for r in ROWS:
        if r.config == config and r.alpha == alpha and (r.isb_skip in ("", isb_skip)):
            return r
    return None


def thesis_accuracy(config: str, alpha: float, isb_skip: str = "fcn8") -> float | None:
    """The thesis's accuracy for a zoo configuration, if it reported one (points: mask
    AP@0.50 on COCO person or Cityscapes mIoU; the thesis's weights, not a measurement).
    For the reference table only: never a benchmark row's accuracy."""
    r = thesis_row(config, alpha, isb_skip)
    return None if r is None else r.accuracy
