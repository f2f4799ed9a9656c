"""Every module outside ``edge.models`` imports in a bare environment (no torch, onnx,
onnxruntime, tensorrt, pycuda or cv2), and the CLIs' ``--help`` work there.

Modules run in a subprocess where those names are poisoned in ``sys.modules``, so an
import of any of them (even a transitive one) fails as it would on a bare machine.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
import textwrap

import pytest

import edge

OPTIONAL = ("torch", "torchvision", "onnx", "onnxruntime", "tensorrt", "pycuda", "cv2", "cupy")
POISON = f"import sys\nfor _m in {OPTIONAL!r}:\n    sys.modules[_m] = None\n"


def run_bare(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", POISON + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120)


# Modules that are PyTorch code by nature; importing them without torch must fail with
# MissingDependencyError (tested below), everything else must import.
TORCH_MODULES = ("edge.models", "edge.train.losses", "edge.train.seg_losses", "edge.train.trainer",
                 "edge.train.feedback_losses", "edge.evaluate.fixations")


def lean_modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(edge.__path__, "edge.")]
    return sorted(n for n in names if not n.startswith(TORCH_MODULES))


def test_there_are_lean_modules_to_check() -> None:
    mods = lean_modules()
    assert "edge.geometry.masks" in mods and "edge.cli.build" in mods and "edge.catalog" in mods


def test_every_lean_module_imports_without_optional_libraries() -> None:
    proc = run_bare(f"""
        import importlib, json
        failed = {{}}
        for name in {lean_modules()!r}:
            try:
                importlib.import_module(name)
            except Exception as exc:
                failed[name] = repr(exc)
        loaded = [m for m in {OPTIONAL!r} if sys.modules.get(m) is not None]
        print(json.dumps({{"failed": failed, "loaded": loaded}}))
    """)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"failed": {}, "loaded": []}


@pytest.mark.parametrize("module", ["edge.models.zoo", "edge.train.trainer", "edge.train.losses",
                                    "edge.train.seg_losses"])
def test_torch_modules_without_torch_say_how_to_install_it(module: str) -> None:
    proc = run_bare(f"""
        from edge.errors import MissingDependencyError
        try:
            import {module}
        except MissingDependencyError as exc:
            print(exc)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "torch" in proc.stdout and "pip install" in proc.stdout
    assert len(proc.stdout.strip().splitlines()) == 1


@pytest.mark.parametrize("cli", ["build", "run", "bench"])
def test_cli_help_without_optional_libraries(cli: str) -> None:
    proc = run_bare(f"""
        from edge.cli.{cli} import main
        sys.exit(main(["--help"]))
    """)
    assert proc.returncode == 0, proc.stderr
    assert f"edge-{cli}" in proc.stdout


def test_build_models_without_torch_fails_in_one_line() -> None:
    proc = run_bare("""
        from edge.cli.build import main
        sys.exit(main(["models"]))
    """)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edge-build: error:") and "torch" in lines[0]
