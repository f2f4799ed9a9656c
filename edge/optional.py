"""Lazy imports of optional libraries with one-line, actionable errors.

The runtime must run without PyTorch and a workstation without TensorRT, so no
module imports these at import time; they call :func:`require` where needed.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType

from edge.errors import MissingDependencyError

# module name -> (how to get it: a complete instruction, why edge-seg needs it)
_HINTS: dict[str, tuple[str, str]] = {
    "torch": ("install it with: pip install 'edge-seg[build]' (or bash tools/setup.sh)",
              "the PyTorch model zoo"),
    "onnx": ("install it with: pip install 'edge-seg[build]'", "ONNX export"),
    "safetensors": ("install it with: pip install 'edge-seg[build]'",
                    "reading .safetensors weights"),
    "onnxruntime": ("install it with: pip install 'edge-seg[runtime]'",
                    "the ONNX Runtime backend"),
    "tensorrt": (
        "TensorRT comes with JetPack (sudo apt install python3-libnvinfer; in a venv, create "
        "it with --system-site-packages) or, on a PC, from NVIDIA's pip index",
        "the TensorRT backend",
    ),
    "pycuda": ("install it with: pip install 'edge-seg[jetson]' (needs the CUDA toolkit, nvcc "
               "on PATH)", "CUDA kernels"),
    "cv2": (
        "install it with: pip install 'edge-seg[video]' (on a Jetson use JetPack's OpenCV "
        "instead)",
        "camera and video I/O",
    ),
    "tqdm": ("install it with: pip install tqdm", "progress bars"),
}


def require(name: str, purpose: str | None = None) -> ModuleType:
    """Import ``name`` or raise :class:`MissingDependencyError` saying how to get it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        install, default_purpose = _HINTS.get(name, (f"install it with: pip install {name}",
                                                     name))
        raise MissingDependencyError(
            f"{purpose or default_purpose} needs the Python package '{name}', which is not "
            f"importable ({exc}); {install}"
        ) from exc


def available(name: str) -> bool:
    """True when ``name`` can be imported (the import is attempted, then cached by Python).

    A package that is installed but fails while importing (a torchvision built for another
    torch raises RuntimeError) counts as absent, with a WARNING saying why."""
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    except Exception as exc:  # a broken install: say so, never crash the caller
        logging.getLogger(__name__).warning("%s is installed but does not import (%s: %s); "
                                            "treated as absent: reinstall it", name,
                                            type(exc).__name__, exc)
        return False
    return True
