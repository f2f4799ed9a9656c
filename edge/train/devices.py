"""``--device`` for the PyTorch commands (train, eval of checkpoints): parsed and checked
against what this torch build and machine offer, so a wrong one is a one-line error
instead of torch's assertion deep inside a run."""

from __future__ import annotations

from edge.errors import ConfigError
from edge.optional import require

ACCEPTED = "auto, cpu, cuda, cuda:N or N (= cuda:N)"


def _cuda_problem(torch) -> str | None:
    """Why CUDA cannot be used here, or None when it can."""
    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        return f"this torch has no CUDA (torch {torch.__version__}, a CPU build)"
    return (f"torch {torch.__version__} is built for CUDA {torch.version.cuda} but sees no CUDA "
            f"device (check the driver and CUDA_VISIBLE_DEVICES)")


def parse_device(text: str | None, option: str = "--device") -> str:
    """``auto`` -> ``cuda`` when a GPU is usable, else ``cpu``; ``N`` -> ``cuda:N``
    (as ``torch.device(N)``); ``cpu``, ``cuda``, ``cuda:N`` and ``mps`` are checked to
    exist. Returns a string ``torch.device`` accepts; anything else is a ConfigError
    naming the device and what is available."""
    torch = require("torch", f"{option} (PyTorch devices)")
    raw = "auto" if text is None else str(text).strip()
    if raw == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    name = f"cuda:{raw}" if raw.isdigit() else raw
    shown = raw if name == raw else f"{raw} (= {name})"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"{option} {raw!r}: not a device; use {ACCEPTED}") from None
    if device.type == "cpu":
        return "cpu"
    if device.type == "cuda":
        problem = _cuda_problem(torch)
        if problem:
            raise ConfigError(f"{option} {shown}: {problem}; use --device cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ConfigError(f"{option} {shown}: this machine has {count} CUDA device"
                              f"{'s' if count != 1 else ''} (cuda:0 to cuda:{count - 1})")
        return str(device)
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(f"{option} {raw}: MPS (Apple GPU) is not available here; use "
                              f"--device cpu")
        return "mps"
    raise ConfigError(f"{option} {raw}: {device.type} devices are not supported; use {ACCEPTED}")
