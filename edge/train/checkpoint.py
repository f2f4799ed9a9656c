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
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from edge import atomic
from edge.description import ModelDescription
from edge.errors import ModelFileError
from edge.untrusted import check_npz_members, one_line
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
    if path.suffix == ".npz":  # the description alone: no weight is loaded
        return _npz_description(path, _read_npz(path, only="__description__"))
    return ModelDescription.from_dict(_load_pt(path)["description"], source=str(path))


# what numpy raises for a file that is not an .npz, a damaged zip or member, or a pickled
# (object) array, which allow_pickle=False refuses: never unpickled
_NPZ_ERRORS = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error,
               NotImplementedError)


def _read_npz(path: Path, only: str | None = None) -> dict[str, np.ndarray]:
    """Every array of a weights file (or the one named ``only``), read whole (so a damaged
    member fails here, in one line naming the file, not later inside torch). Every member's
    header is judged first (:func:`edge.untrusted.check_npz_members`): numpy allocates what
    a header declares before reading, so a crafted header would otherwise ask for terabytes."""
    fix = "save it again with edge-build train"
    try:
        with path.open("rb") as f:
            if f.read(4) != b"PK\x03\x04":  # else numpy would try it as a pickle
                raise ModelFileError(f"{path}: not an .npz weights file (not a zip archive); "
                                     f"{fix}")
        with np.load(path, allow_pickle=False) as z:
            check_npz_members(path, z.zip, fix, only)
            return {k: z[k] for k in z.files if only is None or k == only}
    except MemoryError as exc:  # within the caps, but more than this machine has free
        raise ModelFileError(f"{path}: its arrays do not fit in free memory "
                             f"({one_line(exc)}); close other programs or use a smaller "
                             f"model") from exc
    except ValueError as exc:
        if "allow_pickle" in str(exc):  # numpy's advice to unpickle is not ours to give
            raise ModelFileError(f"{path}: holds pickled object arrays, which edge-seg never "
                                 f"loads (weights are numbers); {fix}") from exc
        raise ModelFileError(f"{path}: not a readable .npz weights file ({one_line(exc)}); "
                             f"{fix}") from exc
    except _NPZ_ERRORS as exc:
        raise ModelFileError(f"{path}: not a readable .npz weights file ({one_line(exc)}); "
                             f"{fix}") from exc


def _npz_description(path: Path, arrays: dict[str, np.ndarray]) -> ModelDescription:
    text = arrays.get("__description__")
    if text is None or text.dtype.kind != "U" or text.shape != ():
        raise ModelFileError(f"{path}: not an edge-seg weights file (no __description__ text)")
    return ModelDescription.from_json(str(text), source=str(path))


def _load_pt(path: Path) -> dict[str, Any]:
    import pickle
    import re
    import warnings

    torch = require("torch", "reading .pt checkpoints")
    try:
        with warnings.catch_warnings():  # torch warns of pickle protocols it only reads
            warnings.simplefilter("ignore", UserWarning)
            ckpt = torch.load(path, map_location="cpu", weights_only=True)  # never runs code
    except pickle.UnpicklingError as exc:  # torch's text advises weights_only=False: not us
        found = re.search(r"WeightsUnpickler error:\s*([^\n]+)", str(exc))
        raise ModelFileError(f"{path}: holds more than tensors and plain values (a foreign "
                             f"pickle: {found.group(1)[:120] if found else 'refused'}), which "
                             f"edge-seg never unpickles; to start from foreign weights use "
                             f"--init with a state dict") from exc
    except Exception as exc:  # torch raises many types for corrupt files
        raise ModelFileError(f"{path}: cannot be read as a PyTorch checkpoint "
                             f"({one_line(exc)})") from exc
    if not isinstance(ckpt, dict) or "description" not in ckpt or "model" not in ckpt:
        raise ModelFileError(f"{path}: not an edge-seg checkpoint (needs 'description' and "
                             f"'model'); to start from foreign weights use --init")
    state = ckpt["model"]
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ModelFileError(f"{path}: its 'model' is not a state dict of named tensors; "
                             f"save it again with edge-build train")
    step = ckpt.get("step", -1)
    if type(step) is not int:
        raise ModelFileError(f"{path}: its 'step' is {type(step).__name__}, not an integer")
    return ckpt


def _npz_state(torch, path: Path, arrays: dict[str, np.ndarray]) -> dict:
    """State dict of a weights file, float16 tensors widened back to float32; anything but
    numeric arrays is refused naming the array."""
    state = {}
    for k, a in arrays.items():
        if k == "__description__":
            continue
        if a.dtype.kind not in "biuf":
            raise ModelFileError(f"{path}: array {k[:60]!r} is {a.dtype}, not numbers; save "
                                 f"the weights again with edge-build train")
        # torch takes native byte order only: a big-endian array is converted (lossless)
        state[k] = torch.from_numpy(np.ascontiguousarray(
            a, np.float32 if a.dtype == np.float16 else a.dtype.newbyteorder("=")))
    return state


def load_model(ref: str | Path):
    """(description, eval-mode torch module, step) from ``demo``, a ``.pt`` or a ``.npz``."""
    torch = require("torch", "loading models into PyTorch")
    from edge.models.zoo import build_model

    path = resolve(ref)
    if path.suffix == ".npz":
        arrays = _read_npz(path)
        desc = _npz_description(path, arrays)
        state = _npz_state(torch, path, arrays)
        step = -1
    else:
        ckpt = _load_pt(path)
        desc = ModelDescription.from_dict(ckpt["description"], source=str(path))
        state, step = ckpt["model"], int(ckpt.get("step", -1))
    model = build_model(desc)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # missing, unexpected or mis-shaped tensors
        raise ModelFileError(f"{path}: weights do not fit {desc.name} "
                             f"({one_line(exc)})") from exc
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
