"""Import layering: the geometry core and the description depend on no other stage."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import edge

ROOT = Path(edge.__file__).parent

# module path prefix -> edge modules it may import
ALLOWED = {
    "geometry": ("edge.description", "edge.errors", "edge.geometry"),
    "description.py": ("edge.errors",),
    "catalog.py": ("edge.description", "edge.errors"),
    "architecture.py": (),
    "errors.py": (),
    "untrusted.py": ("edge.errors",),
    # imported by every stage that writes a file: the file-name rule and nothing above it
    "atomic.py": ("edge.errors", "edge.untrusted"),
    "preprocess.py": ("edge.description", "edge.errors", "edge.geometry", "edge.optional"),
    "pipeline.py": ("edge.description", "edge.geometry", "edge.preprocess"),
}


def edge_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("edge"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("edge"):
                found.add(node.module)
    return found


@pytest.mark.parametrize("prefix", list(ALLOWED))
def test_core_modules_import_only_what_the_layering_allows(prefix: str) -> None:
    files = sorted((ROOT / prefix).rglob("*.py")) if (ROOT / prefix).is_dir() else [ROOT / prefix]
    assert files
    for f in files:
        bad = {m for m in edge_imports(f) if not m.startswith(ALLOWED[prefix])}
        assert not bad, f"{f.relative_to(ROOT)} imports {sorted(bad)}"
