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
    """Copy matching tensors from weights a user already has on disk into ``model``.

    Accepts edge-seg checkpoints / weights and plain state dicts (``model`` or
    ``state_dict`` entries are unwrapped); torchvision SqueezeNet 1.1 names are mapped
    to ours. Tensors whose name or shape differ (e.g. a classifier) are skipped.
    Returns how many tensors were copied; none is an error.
    """
    torch = require("torch", "loading pretrained weights")
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such weights file for --init")
    if path.suffix == ".npz":
        state = _npz_state(torch, path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("model", "state_dict"):
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
    state = {_torchvision_name(k): v for k, v in state.items()}
    own = model.state_dict()
    copied = {k: v for k, v in state.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    if not copied:
        raise ModelFileError(f"{path}: no tensor matches the model by name and shape; expected "
                             f"names like {next(iter(own))!r}")
    own.update(copied)
    model.load_state_dict(own)
    rest = len(own) - len(copied)
    if len(copied) < 0.5 * min(len(state), len(own)):
        # Few names/shapes matched: the file is mostly another model (other backbone, depth
        # multiplier or layer names), so training effectively starts from scratch.
        log.warning("--init %s: only %d of its %d tensors match this model (which has %d); "
                    "the other %d model tensors keep their random initialisation: is it "
                    "weights for another model or depth multiplier?", path, len(copied),
                    len(state), len(own), rest)
    else:
        log.info("initialised %d of %d tensors from %s (%d keep their random initialisation)",
                 len(copied), len(own), path, rest)
    return len(copied)


_SQUEEZE_FIRES = {3: "0.0", 4: "0.1", 6: "1.0", 7: "1.1", 9: "2.0", 10: "2.1", 11: "2.2",
                  12: "2.3"}


def _torchvision_name(name: str) -> str:
    """Map torchvision ``squeezenet1_1`` feature names to :class:`SqueezeNet11`'s."""
    parts = name.split(".")
    if len(parts) >= 3 and parts[0] == "features" and parts[1].isdigit():
        idx = int(parts[1])
        if idx == 0:
            return "backbone.conv1.0." + ".".join(parts[2:])
        if idx in _SQUEEZE_FIRES:
            stage, fire = _SQUEEZE_FIRES[idx].split(".")
            return f"backbone.stages.{stage}.{fire}." + ".".join(parts[2:])
    return name

