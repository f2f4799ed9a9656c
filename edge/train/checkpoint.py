"""Checkpoints with the model description embedded, and loading models by reference.

A checkpoint (``.pt``) holds ``description`` (JSON dict), ``model`` (state dict),
``step``, and for resuming the optimizer, scheduler and RNG states. A weights file
(``.npz``) holds the description as ``__description__`` and one array per state-dict
entry (float16 where lossless enough): torch-free to read, small enough to ship; the
demo model is one. Writes are atomic (temporary file, then rename).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import numpy as np

from edge import atomic
from edge.description import ModelDescription
from edge.errors import ModelFileError
from edge.optional import require

from .pretrained import _SQUEEZE_FIRES  # noqa: F401  (moved there; kept importable here)

log = logging.getLogger(__name__)

DEMO_NAME = "demo"
DEMO_PATH = Path(__file__).resolve().parent.parent / "demo" / "ssd-isb-demo.npz"


def save_checkpoint(path: str | Path, model, desc: ModelDescription, step: int,
                    extra: dict[str, Any] | None = None) -> None:
    """Write a resumable ``.pt`` checkpoint atomically."""
    torch = require("torch", "checkpoints")
    buf = io.BytesIO()
    torch.save({"description": desc.to_dict(), "model": model.state_dict(), "step": step,
                **(extra or {})}, buf)
    atomic.write_bytes(path, buf.getvalue())


def save_weights(path: str | Path, model, desc: ModelDescription, half: bool = True) -> None:
    """Write a torch-free ``.npz`` weights file (floats as float16 when ``half``)."""
    arrays: dict[str, np.ndarray] = {"__description__": np.array(desc.to_json())}
    for k, v in model.state_dict().items():
        a = v.detach().cpu().numpy()
        arrays[k] = a.astype(np.float16) if half and a.dtype == np.float32 else a
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic.write_bytes(path, buf.getvalue())


def resolve(ref: str | Path) -> Path:
    """``demo`` -> the shipped demo weights; anything else must be an existing file."""
    path = DEMO_PATH if str(ref) == DEMO_NAME else Path(ref)
    if not path.is_file():
        hint = ("the package was installed without its demo weights; reinstall edge-seg"
                if str(ref) == DEMO_NAME else "pass a .pt checkpoint, a .npz weights file or demo")
        raise ModelFileError(f"{path}: no such model file; {hint}")
    return path


def read_description(ref: str | Path) -> ModelDescription:
    """The description embedded in a checkpoint or weights file (torch not needed for .npz)."""
    path = resolve(ref)
    if path.suffix == ".npz":
        with np.load(path) as z:
            if "__description__" not in z:
                raise ModelFileError(f"{path}: not an edge-seg weights file (no __description__)")
            return ModelDescription.from_json(str(z["__description__"]), source=str(path))
    return ModelDescription.from_dict(_load_pt(path)["description"], source=str(path))


def _load_pt(path: Path) -> dict[str, Any]:
    torch = require("torch", "reading .pt checkpoints")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise ModelFileError(f"{path}: cannot be read as a PyTorch checkpoint ({exc})") from exc
    if not isinstance(ckpt, dict) or "description" not in ckpt or "model" not in ckpt:
        raise ModelFileError(f"{path}: not an edge-seg checkpoint (needs 'description' and "
                             f"'model'); to start from foreign weights use --init")
    return ckpt


def _npz_state(torch, path: Path) -> dict:
    """State dict of a weights file, float16 tensors widened back to float32."""
    with np.load(path) as z:
        return {k: torch.from_numpy(z[k].astype(np.float32) if z[k].dtype == np.float16
                                    else z[k]) for k in z.files if k != "__description__"}


def load_model(ref: str | Path):
    """(description, eval-mode torch module, step) from ``demo``, a ``.pt`` or a ``.npz``."""
    torch = require("torch", "loading models into PyTorch")
    from edge.models.zoo import build_model

    path = resolve(ref)
    if path.suffix == ".npz":
        desc = read_description(path)
        state = _npz_state(torch, path)
        step = -1
    else:
        ckpt = _load_pt(path)
        desc = ModelDescription.from_dict(ckpt["description"], source=str(path))
        state, step = ckpt["model"], int(ckpt.get("step", -1))
    model = build_model(desc)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelFileError(f"{path}: weights do not fit {desc.name} ({str(exc)[:200]})") from exc
    return desc, model.eval(), step


def load_pretrained(model, path: str | Path) -> int:
    """Initialise ``model`` from weights a user already has on disk (``--init``).

    Delegates to :func:`edge.train.pretrained.init_from_file`, which recognises edge-seg
    files and plain state dicts, torchvision SqueezeNet 1.1, timm MobileNet-v1, Keras
    MobileNet and TF-slim MobilenetV1 names (``.safetensors``, ``.pt``/``.pth``/``.bin``,
    ``.npz``), logs its table at INFO and refuses files that match fewer than 90% of the
    backbone's tensors. Returns how many tensors were copied (the report's matched rows).
    """
    from .pretrained import init_from_file

    report = init_from_file(model, path)
    log.info("%s", report.table())
    return report.matched
