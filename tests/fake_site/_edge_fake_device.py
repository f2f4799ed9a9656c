"""The fake Jetson behind ``tests/fake_site``: one fake GPU per process, configured by the
environment, exposed as the ``pycuda`` and ``tensorrt`` modules (see README.md here).

Reuses ``tests/fake_device.py`` (fake pycuda with the kernel emulator, the fake TensorRT
runtime) and ``tests/test_engines.py`` (``FakeTrt``: the builder API of one TensorRT release),
importing them from the repository this folder lives in; nothing of theirs is copied. The
builder part additionally parses the ONNX graph it is given and serialises a real fake engine
(the JSON that ``make_tensorrt``'s ``Runtime`` deserialises), so what ``edge-build engine``
builds, ``edge-bench selftest`` and ``edge-run`` can run.

Environment:
  EDGE_FAKE_TRT_VERSION  TensorRT version, default 10.3.0.30 (8.6.x, 10.x, 11.x: the API of
                         that release, from tests/test_engines.RELEASES)
  EDGE_FAKE_GPU_NAME     pycuda's Device.name(), default "Orin"
  EDGE_FAKE_CC           compute capability, default 8.7
  EDGE_FAKE_SMS          multiprocessor count, default 16
  EDGE_FAKE_INTEGRATED   1 (default, Jetson: mapped host memory) or 0 (discrete GPU)
  EDGE_FAKE_DRIVER       CUDA driver version as cuDriverGetVersion gives it, default 12060
                         (a cuda13 cubin, e.g. Thor's sm_110, needs 13000 or more)
  EDGE_FAKE_SEED         seed of the order independent streams run in, default 0
  EDGE_FAKE_BUILD_FAIL   if set: every build_serialized_network logs this text at ERROR and
                         returns None, as a failing real build does
  EDGE_FAKE_EMULATOR     a prebuilt emu_device.so; else it is built once (g++) into
                         $EDGE_SEG_HOME/fake-device (or <tmp>/edge-fake-device-<uid>) under a
                         name keyed by its sources and flags, by atomic rename
At exit, a CUDA context left pushed or a device allocation that outlived its context (real
pycuda aborts) is reported on stderr and the process exits with status 70.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import json
import os
import sys
import tempfile
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests import fake_device  # noqa: E402
from tests.test_engines import FakeTrt  # noqa: E402

LEAK_EXIT = 70  # exit status when the process ends with CUDA state pycuda would abort on


def env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _config() -> dict:
    cc_text = env("EDGE_FAKE_CC", "8.7")
    try:
        major, minor = (int(v) for v in cc_text.split("."))
        sms = int(env("EDGE_FAKE_SMS", "16"))
        driver = int(env("EDGE_FAKE_DRIVER", "12060"))
        seed = int(env("EDGE_FAKE_SEED", "0"))
    except ValueError as exc:
        raise RuntimeError(f"fake device: bad EDGE_FAKE_* value ({exc}); EDGE_FAKE_CC is like "
                           f"8.7, EDGE_FAKE_SMS/DRIVER/SEED are integers") from exc
    integrated = env("EDGE_FAKE_INTEGRATED", "1")
    if integrated not in ("0", "1"):
        raise RuntimeError(f"fake device: EDGE_FAKE_INTEGRATED={integrated!r}: give 0 or 1")
    return {"trt_version": env("EDGE_FAKE_TRT_VERSION", fake_device.TRT_VERSION),
            "name": env("EDGE_FAKE_GPU_NAME", "Orin"), "cc": (major, minor), "sms": sms,
            "integrated": integrated == "1", "driver": driver, "seed": seed,
            "build_fail": os.environ.get("EDGE_FAKE_BUILD_FAIL") or None,
            "miscompile": env("EDGE_FAKE_MISCOMPILE", "0") == "1"}


# ------------------------------------------------------------------------ emulator


def _emulator_key() -> str:
    h = hashlib.sha256(" ".join(fake_device.emu_flags()).encode())
    for f in sorted((ROOT / "tests" / "cuda_emu").iterdir()) + [ROOT / "edge" / "cuda" /
                                                                  "kernels.cu"]:
        if f.is_file():
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def emulator_path() -> Path:
    """Where the shared emulator of these sources lives (built or not)."""
    home = os.environ.get("EDGE_SEG_HOME")
    folder = (Path(home) / "fake-device" if home else
              Path(tempfile.gettempdir()) / f"edge-fake-device-{os.getuid()}")
    return folder / f"emu_device.{_emulator_key()}.so"


def load_emulator() -> ctypes.CDLL:
    given = os.environ.get("EDGE_FAKE_EMULATOR")
    if given:
        if not Path(given).is_file():
            raise RuntimeError(f"fake device: EDGE_FAKE_EMULATOR={given}: no such file")
        return ctypes.CDLL(given)
    final = emulator_path()
    if final.is_file():
        return ctypes.CDLL(str(final))
    final.parent.mkdir(parents=True, exist_ok=True)
    # each process builds in its own folder; the rename is atomic, so a parallel process
    # sees no file or a complete one (two may both build: the last rename wins, same bytes)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=final.parent))
    try:
        lib = fake_device.build_emulator(work)
        os.replace(work / "emu_device.so", final)
    finally:
        for f in work.iterdir():
            f.unlink()
        work.rmdir()
    return lib


# ------------------------------------------------------------------------ pycuda


def make_pycuda(cfg: dict, lib: ctypes.CDLL) -> dict[str, types.ModuleType]:
    mods = fake_device.make_pycuda(lib, integrated=cfg["integrated"], seed=cfg["seed"],
                                   cc=cfg["cc"], driver=cfg["driver"])
    drv = mods["pycuda.driver"]
    pkg = mods["pycuda"]
    pkg.VERSION = tuple(int(v) for v in pkg.VERSION_TEXT.split("."))  # as pycuda has it
    # identity facts from the environment: patched on the fake's own Device class (so
    # Context.get_device() sees them too); any other attribute still raises KeyError
    device = drv.Device
    get_attribute = device.get_attribute
    drv.device_attribute.CLOCK_RATE = "GPU_CLOCK"  # pycuda has it (edge.bench.peak reads it)

    def name(self) -> str:
        return cfg["name"]

    def attribute(self, a) -> int:
        if a == "SMS":
            return cfg["sms"]
        if a == "GPU_CLOCK":
            return 1_300_000  # kHz
        return get_attribute(self, a)

    device.name, device.get_attribute = name, attribute
    return mods


def _check_at_exit(gpu) -> None:
    try:
        gpu.check_clean()
    except AssertionError as exc:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 (a closed stream: nothing to flush)
                pass
        os.write(2, f"fake pycuda: {exc}; real pycuda aborts here (exit {LEAK_EXIT})\n"
                 .encode())
        os._exit(LEAK_EXIT)


# ------------------------------------------------------------------------ tensorrt

ONNX_TYPES = {1: "FLOAT", 10: "HALF", 6: "INT32", 3: "INT8", 9: "BOOL"}


def make_tensorrt(cfg: dict, drv: types.ModuleType) -> types.ModuleType:
    """One module: FakeTrt's builder API of the configured release plus make_tensorrt's
    runtime, sharing one ILogger class (the one logger edge makes serves both)."""
    trt = FakeTrt(cfg["trt_version"])
    trt.fail_with = cfg["build_fail"]
    rt = fake_device.make_tensorrt(drv)
    for attr in ("TensorIOMode", "DataType", "nptype", "Runtime"):
        if hasattr(trt, attr):
            raise RuntimeError(f"fake tensorrt: FakeTrt now defines {attr}; merge by hand")
        setattr(trt, attr, getattr(rt, attr))
    rt.ILogger = trt.ILogger  # Runtime(logger) checks isinstance against rt.ILogger
    rt.__version__ = trt.__version__

    base_builder, base_parser = trt.Builder, trt.OnnxParser
    base_config = type(base_builder.create_builder_config(None))
    severity = trt.ILogger.Severity

    class Tensor:
        __slots__ = ("name", "shape")

        def __init__(self, name: str, shape: tuple) -> None:
            self.name, self.shape = name, shape

    class Network:
        """An INetworkDefinition that a parser fills from the ONNX graph."""

        __slots__ = ("flags", "_graph", "_inputs", "_dtypes")

        def __init__(self, flags: int) -> None:
            self.flags = flags
            self._graph: Path | None = None
            self._inputs: list[Tensor] = []
            self._dtypes: dict[str, str] = {}

        @property
        def num_inputs(self) -> int:
            return len(self._inputs)

        def get_input(self, i: int) -> Tensor:
            if not isinstance(i, int) or not 0 <= i < len(self._inputs):
                raise IndexError(f"get_input({i!r}): the network has {len(self._inputs)} "
                                 f"inputs")
            return self._inputs[i]

    class Parser(base_parser):
        def __init__(self, network, logger) -> None:
            if not isinstance(network, Network):
                raise TypeError(f"OnnxParser(): incompatible network {network!r}")
            super().__init__(network, logger)
            self.network = network
            self._own_error: str | None = None

        def parse_from_file(self, path):
            if not isinstance(path, str):
                raise TypeError("parse_from_file(): incompatible function arguments (a str)")
            if not super().parse_from_file(path):
                return False
            import onnx

            try:
                graph = onnx.load(path).graph
            except Exception as exc:  # noqa: BLE001 (missing file, not a model)
                self.num_errors, self._own_error = 1, f"cannot read {path}: {exc}"
                return False
            net = self.network
            net._graph = Path(path).resolve()
            init = {i.name for i in graph.initializer}
            for i in graph.input:
                if i.name in init:
                    continue
                dims = tuple(d.dim_value if d.HasField("dim_value") else -1
                             for d in i.type.tensor_type.shape.dim)
                net._inputs.append(Tensor(i.name, dims))
            for v in [*graph.input, *graph.output]:
                if v.name not in init:
                    t = v.type.tensor_type.elem_type
                    if t not in ONNX_TYPES:
                        self.num_errors, self._own_error = 1, f"{v.name}: ONNX type {t}"
                        return False
                    net._dtypes[v.name] = ONNX_TYPES[t]
            return True

        def get_error(self, i):
            if self._own_error is None:
                return super().get_error(i)
            msg = self._own_error
            return types.SimpleNamespace(node=lambda: -1, node_name=lambda: "",
                                         node_operator=lambda: "", desc=lambda: msg)

    class Config(base_config):
        def add_optimization_profile(self, p):
            super().add_optimization_profile(p)
            object.__setattr__(self, "_profiles", [*getattr(self, "_profiles", []), p])
            return len(self._profiles) - 1

    class Builder(base_builder):
        def create_network(self, flags):
            super().create_network(flags)  # records the call, checks the type
            return Network(flags)

        def create_builder_config(self):
            return Config()

        def _fail(self, msg: str) -> None:
            self._logger.log(severity.ERROR, msg)

        def build_serialized_network(self, network, config):
            if not isinstance(network, Network) or not isinstance(config, Config):
                raise TypeError("build_serialized_network(): incompatible function arguments")
            if super().build_serialized_network(network, config) is None:
                return None  # EDGE_FAKE_BUILD_FAIL: logged by FakeTrt
            if network._graph is None or not network._inputs:
                return self._fail("Network must have at least one output")
            profiles = getattr(config, "_profiles", [])
            if not profiles:
                return self._fail("Network has dynamic or shape inputs, but no optimization "
                                  "profile has been defined.")
            shapes = profiles[0].shapes
            batches = set()
            for t in network._inputs:
                if t.name not in shapes:
                    return self._fail(f"{t.name}: no dimensions in optimization profile 0")
                lo, opt, hi = shapes[t.name]
                if not (len(lo) == len(opt) == len(hi) == len(t.shape)) or not all(
                        a <= b <= c and (d < 0 or a == c == d)
                        for a, b, c, d in zip(lo, opt, hi, t.shape)):
                    return self._fail(f"{t.name}: profile {lo} {opt} {hi} does not fit the "
                                      f"network's dimensions {list(t.shape)}")
                batches.add((lo[0], hi[0]))
            extra = set(shapes) - {t.name for t in network._inputs}
            if extra or len(batches) != 1:
                return self._fail(f"optimization profile 0: inputs {sorted(extra)} not in the "
                                  f"network, or batch ranges differ: {sorted(batches)}")
            (lo, hi), = batches
            dynamic = network._inputs[0].shape[0] < 0
            if cfg["miscompile"] and dynamic:  # a build that succeeds but cannot run:
                hi = 0  # its profile takes no batch, so only running it (the self-test) tells
            spec = {"onnx": str(network._graph), "max_batch": hi,
                    "dtypes": dict(network._dtypes), "static": dynamic and lo == hi}
            return memoryview(json.dumps(spec).encode())

    trt.Builder, trt.OnnxParser = Builder, Parser
    return trt


# ------------------------------------------------------------------------ install


_MODULES: dict[str, types.ModuleType] | None = None


def install() -> dict[str, types.ModuleType]:
    """Build the device once per process and put the fakes in ``sys.modules``."""
    global _MODULES
    if _MODULES is None:
        cfg = _config()
        mods = make_pycuda(cfg, load_emulator())
        mods["tensorrt"] = make_tensorrt(cfg, mods["pycuda.driver"])
        sys.modules.update(mods)
        atexit.register(_check_at_exit, mods["pycuda.driver"].gpu)
        _MODULES = mods
    return _MODULES
