"""edge-seg: real-time segmentation networks from PyTorch to Jetson-class GPUs.

Importing :mod:`edge` is cheap and needs only NumPy: heavy or device-specific
libraries (torch, onnx, onnxruntime, tensorrt, pycuda, cv2) are imported lazily by
the modules that use them, so the lean runtime and every CLI ``--help`` work on a
machine that has none of them.
"""

from edge.errors import EdgeError

__version__ = "0.1.0"

__all__ = ["EdgeError", "__version__"]
