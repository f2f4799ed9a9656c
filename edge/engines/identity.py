"""Engine identity: what an engine was built from and for, and the check on load.

A TensorRT engine only runs with the TensorRT version and the GPU it was built for;
silently failing engines after a JetPack upgrade are a top complaint of Jetson users. So
every engine is keyed by the graph's sha256, the TensorRT version, the GPU name and compute
capability, the L4T release on a Jetson, the precision and the optimisation profile; its
sidecar JSON records all of it, and :func:`check_engine` refuses a mismatch with the reason
and the command that rebuilds it. Pure Python: the device facts are passed in.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge.engines.versions import JETPACK_BY_L4T
from edge.errors import EngineError

L4T_RELEASE_FILE = Path("/etc/nv_tegra_release")


@dataclass(frozen=True)
class DeviceInfo:
    """The facts an engine depends on."""

    trt_version: str
    gpu_name: str
    compute_capability: str  # "8.7"
    l4t: str | None = None  # "R36.4.3" on a Jetson, None elsewhere

    @property
    def jetpack(self) -> str | None:
        if self.l4t is None:
            return None
        major_minor = ".".join(self.l4t.split(".")[:2])
        return JETPACK_BY_L4T.get(major_minor, (None, None))[0]

    def describe(self) -> str:
        where = f"{self.gpu_name} (sm {self.compute_capability})"
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


def mismatches(recorded: dict[str, Any], current: DeviceInfo) -> list[str]:
    """Human-readable differences between a recorded device and this one."""
    out = []
    labels = {"trt_version": "TensorRT", "gpu_name": "GPU", "compute_capability": "compute "
              "capability", "l4t": "L4T release"}
    for key, label in labels.items():
        was, now = recorded.get(key), getattr(current, key)
        if key == "trt_version":
            # patch releases keep engines compatible; major.minor.patch must match
            was_v = ".".join(str(was).split(".")[:3]) if was else was
            now_v = ".".join(str(now).split(".")[:3])
            if was_v != now_v:
                out.append(f"{label} {was} -> {now}")
        elif was != now:
            out.append(f"{label} {was} -> {now}")
    return out


def check_engine(sidecar: dict[str, Any], current: DeviceInfo, engine: str | Path,
                 rebuild: str) -> None:
    """Refuse an engine built for another device or TensorRT version, saying why and how
    to rebuild it."""
    diffs = mismatches(sidecar.get("device", {}), current)
    if diffs:
        raise EngineError(f"{engine}: built for another device or TensorRT ({'; '.join(diffs)})"
                          f"; TensorRT engines do not carry over, rebuild with: {rebuild}")
