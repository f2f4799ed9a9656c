"""edge.atomic: never a half-written file, never a replaced link or device."""

from __future__ import annotations

import os
import stat

from edge import atomic


def test_write_replaces_a_regular_file_and_leaves_no_temporary(tmp_path):
    p = tmp_path / "out.json"
    p.write_text("old")
    atomic.write_text(p, "new")
    assert p.read_text() == "new"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out.json"]


def test_write_through_a_symlink_keeps_the_link(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    atomic.write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    atomic.copy_file(real, link)
    assert link.is_symlink()


def test_write_into_a_fifo_or_dev_null_keeps_the_node(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        atomic.write_bytes(fifo, b"data")
        assert os.read(r, 16) == b"data"
    finally:
        os.close(r)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    atomic.write_text(os.devnull, "discarded")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
