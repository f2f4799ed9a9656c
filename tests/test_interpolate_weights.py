"""tools/interpolate_weights.py: (1 - t) * A + t * B of one model's weights files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("interpolate_weights",
                                                  ROOT / "tools/interpolate_weights.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _weights(tmp_path, name, seed, model="squeezenet-fcn8s"):
    from edge.models.zoo import create
    from edge.train.checkpoint import save_weights

    torch.manual_seed(seed)
    desc, net = create(model, input_size=(64, 64))
    with torch.no_grad():
        for p in net.parameters():
            p.normal_()
    path = tmp_path / name
    save_weights(path, net, desc)
    return path


def test_interpolation_ends_and_middle(tmp_path):
    tool = _tool()
    a, b = _weights(tmp_path, "a.npz", 0), _weights(tmp_path, "b.npz", 1)
    za, zb = np.load(a), np.load(b)
    for t in (0.0, 0.5, 1.0):
        out = tmp_path / f"t{t}.npz"
        assert tool.main([str(a), str(b), "--t", str(t), "--out", str(out)]) == 0
        zo = np.load(out)
        assert str(zo["__description__"]) == str(zb["__description__"])
        for k in zb.files:
            if k == "__description__":
                continue
            want = (1 - t) * za[k].astype(np.float32) + t * zb[k].astype(np.float32)
            if np.issubdtype(zb[k].dtype, np.floating):
                np.testing.assert_allclose(zo[k].astype(np.float32), want, rtol=1e-3, atol=1e-3)
                assert zo[k].dtype == zb[k].dtype
            else:
                np.testing.assert_array_equal(zo[k], zb[k])
    # the result loads as a model
    from edge.train.checkpoint import load_model

    load_model(tmp_path / "t0.5.npz")


def test_interpolation_refuses_two_different_models(tmp_path, capsys):
    tool = _tool()
    a = _weights(tmp_path, "a.npz", 0, "squeezenet-fcn8s")
    b = _weights(tmp_path, "b.npz", 1, "squeezenet-fcn16s")
    assert tool.main([str(a), str(b), "--t", "0.5", "--out", str(tmp_path / "c.npz")]) == 2
    assert "different models" in capsys.readouterr().err
    assert not (tmp_path / "c.npz").exists()
    with pytest.raises(SystemExit):
        tool.main([str(a), str(a), "--t", "1.5", "--out", str(tmp_path / "c.npz")])
