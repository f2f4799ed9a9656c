"""Engine identity: what an engine was built from and for, and the check on load.

A TensorRT engine only runs with the TensorRT version and the GPU it was built for;
silently failing engines after a JetPack upgrade are a top complaint of Jetson users. So
every engine is keyed by the graph's sha256, the TensorRT version, the GPU name, compute
capability and SM count, the board (``/proc/device-tree/model``: pycuda names every Orin
"Orin", AGX, NX and Nano alike), the L4T release on a Jetson, the precision and the
optimisation profile; its sidecar JSON records all of it, and :func:`check_engine` refuses a
mismatch with the reason and the command that rebuilds it. A fact unknown on either side
(no ``/etc/nv_tegra_release`` in a container) is not compared, and that is logged.
:func:`device_info` is the one place the facts are read (builder and runtime alike).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge.engines.versions import JETPACK_BY_L4T
from edge.errors import EngineError

log = logging.getLogger(__name__)

L4T_RELEASE_FILE = Path("/etc/nv_tegra_release")
BOARD_MODEL_FILE = Path("/proc/device-tree/model")


@dataclass(frozen=True)
class DeviceInfo:
    """The facts an engine depends on."""

    trt_version: str
    gpu_name: str
    compute_capability: str  # "8.7"
    l4t: str | None = None  # "R36.4.3" on a Jetson, None elsewhere (or in a container)
    board: str | None = None  # "NVIDIA Jetson AGX Orin Developer Kit"; None off a Jetson
    sm_count: int | None = None  # streaming multiprocessors (AGX vs NX vs Nano)

    @property
    def board_family(self) -> str | None:
        return board_family(self.board)

    @property
    def jetpack(self) -> str | None:
        if self.l4t is None:
            return None
        major_minor = ".".join(self.l4t.split(".")[:2])
        return JETPACK_BY_L4T.get(major_minor, (None, None))[0]

    def describe(self) -> str:
        sms = f", {self.sm_count} SMs" if self.sm_count else ""
        where = f"{self.gpu_name} (sm {self.compute_capability}{sms})"
        if self.board:
            where += f" on {self.board}"
        if self.l4t:
            jp = self.jetpack
            where += f", L4T {self.l4t}" + (f" / JetPack {jp}" if jp else "")
        return f"TensorRT {self.trt_version} on {where}"


def read_l4t(path: str | Path = L4T_RELEASE_FILE) -> str | None:
    """L4T release from ``/etc/nv_tegra_release`` ('# R36 (release), REVISION: 4.3, ...'
    -> 'R36.4.3'); None when not a Jetson."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return None
    m = re.search(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    return f"R{m.group(1)}.{m.group(2)}" if m else None


def read_board(path: str | Path = BOARD_MODEL_FILE) -> str | None:
    """The board's model string from the device tree (NUL-terminated there); None off a
    Jetson or where the device tree is not visible."""
    try:
        text = Path(path).read_bytes().decode(errors="replace")
    except OSError:
        return None
    return text.replace("\x00", "").strip() or None


def board_family(board: str | None) -> str | None:
    """'thor', 'agx-orin', 'orin-nx', 'orin-nano' or None (unknown) from a model string."""
    if not board:
        return None
    b = board.lower()
    if "thor" in b:
        return "thor"
    if "orin" in b:
        if "nano" in b:
            return "orin-nano"
        if "nx" in b.split() or "orin nx" in b:
            return "orin-nx"
        if "agx" in b:
            return "agx-orin"
    return None


def device_info(trt: Any, cuda: Any, device: Any) -> DeviceInfo:
    """The facts of this device for engine identity: ``trt`` and ``cuda`` (pycuda.driver)
    modules and the ``cuda.Device``. The builder and the runtime must both use this, or the
    same engine compares unequal to itself."""
    major, minor = device.compute_capability()
    sms = int(device.get_attribute(cuda.device_attribute.MULTIPROCESSOR_COUNT))
    return DeviceInfo(str(trt.__version__), device.name(), f"{major}.{minor}", read_l4t(),
                      read_board(), sms)


@dataclass(frozen=True)
class EngineKey:
    """Everything that makes two engines interchangeable."""

    graph_sha256: str
    precision: str
    profile: dict[str, list[list[int]]] = field(default_factory=dict)  # input -> [min, opt, max]
    options: dict[str, Any] = field(default_factory=dict)  # dla_core, builder level, flags
    device: DeviceInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def digest(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def file_name(self, stem: str) -> str:
        """``detector.int8.3f2a9c01d4e2.engine``: a rebuild for another device or version
        gets another name, never overwriting a working engine."""
        return f"{stem}.{self.precision}.{self.digest()[:12]}.engine"


# facts that may be unknown (a container, an old record): compared only when both sides know
OPTIONAL_FACTS = ("l4t", "board", "sm_count")


def mismatches(recorded: dict[str, Any], current: DeviceInfo) -> list[str]:
    """Human-readable differences between a recorded device and this one."""
    out = []
    labels = {"trt_version": "TensorRT", "gpu_name": "GPU", "compute_capability": "compute "
              "capability", "sm_count": "SM count", "board": "board", "l4t": "L4T release"}
    unknown = []
    for key, label in labels.items():
        was, now = recorded.get(key), getattr(current, key)
        if key in OPTIONAL_FACTS and (was is None or now is None):
            if was != now:
                unknown.append(label)
            continue
        if key == "trt_version":
            # patch releases keep engines compatible; major.minor.patch must match
            was_v = ".".join(str(was).split(".")[:3]) if was else was
            now_v = ".".join(str(now).split(".")[:3])
            if was_v != now_v:
                out.append(f"{label} {was} -> {now}")
        elif was != now:
            out.append(f"{label} {was} -> {now}")
    if unknown and not out:
        log.info("engine identity: %s unknown on one side (no /etc/nv_tegra_release or "
                 "/proc/device-tree in a container?); compared the rest", ", ".join(unknown))
    return out


def check_engine(sidecar: dict[str, Any], current: DeviceInfo, engine: str | Path,
                 rebuild: str) -> None:
    """Refuse an engine built for another device or TensorRT version, saying why and how
    to rebuild it."""
    diffs = mismatches(sidecar.get("device", {}), current)
    if diffs:
        raise EngineError(f"{engine}: built for another device or TensorRT ({'; '.join(diffs)})"
                          f"; TensorRT engines do not carry over, rebuild with: {rebuild}")
