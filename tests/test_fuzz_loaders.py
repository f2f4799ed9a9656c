"""Every loader of a user's or a device's file, fuzzed: a valid load or one line.

Each target (``tests/fuzz_targets.py``) starts from a valid file written by the project's
own writers and mutates it thousands of times, structure-aware and byte-level; every case
must end in a valid load or a one-line :class:`~edge.errors.EdgeError` naming the file:
never another exception, a hang, a pickle that runs code or a write outside the folder.
Deterministic (``derandomize``) and bounded; ``tools/fuzz_loaders.py`` runs the same
targets for longer with random seeds.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tests.fuzz_targets import TARGETS, Tally, run_case

CI_TOTAL = 5000  # examples per CI run, all targets together: checked below, not claimed
RAN: dict[str, Tally] = {}


def test_the_targets_add_up_to_the_ci_budget() -> None:
    assert sum(t.ci_examples for t in TARGETS.values()) >= CI_TOTAL


@pytest.mark.parametrize("name", list(TARGETS))
def test_a_loader_survives_its_fuzzing(name: str, tmp_path) -> None:
    target = TARGETS[name]
    for module in target.needs:
        pytest.importorskip(module)
    ctx = target.prepare(tmp_path)
    tally = Tally()

    # whole files and 5000-deep nesting are the inputs on purpose: the size and speed
    # health checks would reject exactly them; each case has its own time limit
    # (run_case's alarm turns a hang into a failure), and hypothesis's deadline as well
    @settings(max_examples=target.ci_examples, derandomize=True, database=None,
              deadline=target.time_limit_s * 1000, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(data=target.cases(ctx))
    def fuzz(data: bytes) -> None:
        run_case(target, ctx, data, tally)

    fuzz()
    RAN[name] = tally
    print(f"{name}: {tally.summary()}")
    assert not tally.failures, "\n".join(tally.failures[:5])
    assert tally.examples >= target.ci_examples, tally.summary()
    assert tally.ok > 0 and tally.refused, tally.summary()  # both ends were reached


def test_the_ci_run_fuzzed_at_least_its_budget() -> None:
    if set(RAN) != set(TARGETS):
        pytest.skip(f"only {sorted(RAN)} ran (a selection, or a missing extra)")
    assert sum(t.examples for t in RAN.values()) >= CI_TOTAL


# ---- .npz headers: numpy allocates what a member's header declares before reading it

def _npz_with_header(path, header: dict, data: bytes = b"", member: str = "w") -> None:
    """A weights file whose ``member`` carries ``header`` and ``data`` (a crafted file:
    np.savez never writes a header that disagrees with its data), beside a valid
    description (unless ``member`` is the description)."""
    import io
    import json
    import zipfile

    import numpy as np
    from numpy.lib import format as npy

    from edge import catalog

    crafted = io.BytesIO()
    npy.write_array_header_1_0(crafted, header)
    with zipfile.ZipFile(path, "w") as z:
        if member != "__description__":
            desc = io.BytesIO()
            text = json.dumps(catalog.describe("segnet-toy", input_size=(32, 32)).to_dict())
            npy.write_array(desc, np.array(text))
            z.writestr("__description__.npy", desc.getvalue())
        z.writestr(member + ".npy", crafted.getvalue() + data)


@pytest.mark.parametrize("shape, descr", [
    ((10**12,), "<f4"),          # 3.6 TiB from a 300-byte file: MemoryError before
    ((10**9,), "<f4"),           # 4 GB: really allocated before
    ((2**40, 2**40), "<f4"),     # the element count overflows numpy's int64 product
    ((4, 4), "|V1000000000"),    # a huge item size
    ((3,), "<f8"),               # 24 bytes declared, 12 held
])
@pytest.mark.parametrize("reader, member", [("load_model", "w"),
                                            ("read_description", "__description__")])
def test_an_npz_member_declaring_more_than_it_holds_is_refused_before_loading(
        tmp_path, shape, descr, reader, member) -> None:
    pytest.importorskip("torch")
    from edge.errors import ModelFileError
    from edge.train import checkpoint

    path = tmp_path / "bomb.npz"
    _npz_with_header(path, {"descr": descr, "fortran_order": False, "shape": shape},
                     b"\0" * 12, member)
    with pytest.raises(ModelFileError) as err:
        getattr(checkpoint, reader)(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and f"{member!r}" in msg, msg
    assert "declares" in msg and "refused before loading" in msg, msg


def test_an_npz_array_above_the_size_cap_is_refused(tmp_path, monkeypatch) -> None:
    pytest.importorskip("torch")
    import numpy as np

    from edge import untrusted
    from edge.errors import ModelFileError
    from edge.train import checkpoint

    path = tmp_path / "big.npz"
    _npz_with_header(path, {"descr": "<f4", "fortran_order": False, "shape": (1000,)},
                     np.zeros(1000, np.float32).tobytes())
    monkeypatch.setattr(untrusted, "MAX_NPZ_ARRAY_BYTES", 3999)
    with pytest.raises(ModelFileError, match=r"'w'.*4,000 bytes.*above the 3,999"):
        checkpoint.load_model(path)
    monkeypatch.setattr(untrusted, "MAX_NPZ_ARRAY_BYTES", 4000)
    with pytest.raises(ModelFileError, match="do not fit"):  # the size passes; the name not
        checkpoint.load_model(path)


def test_read_description_loads_only_the_description(tmp_path) -> None:
    """A weights member whose data is damaged (its CRC fails at its end) does not stop the
    description being read: only ``__description__`` is loaded; load_model refuses it."""
    pytest.importorskip("torch")
    import numpy as np

    from edge.errors import ModelFileError
    from edge.train import checkpoint

    path = tmp_path / "damaged.npz"
    data = np.arange(64, dtype=np.float32).tobytes()
    _npz_with_header(path, {"descr": "<f4", "fortran_order": False, "shape": (64,)}, data)
    raw = bytearray(path.read_bytes())
    at = raw.rfind(data[-8:])  # stored (not deflated): the member's last bytes, verbatim
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert checkpoint.read_description(path).name == "segnet-toy"
    with pytest.raises(ModelFileError, match="damaged.npz"):
        checkpoint.load_model(path)


def test_a_big_endian_weights_array_loads(tmp_path) -> None:
    """Found by the header fuzzing: an array stored big-endian (numbers all the same) made
    torch.from_numpy raise ValueError, an internal error; it is converted, losslessly."""
    pytest.importorskip("torch")
    import numpy as np

    from edge.train.checkpoint import load_model, save_weights
    from tests.fuzz_targets import _toy_model

    desc, model = _toy_model()
    path = tmp_path / "model.npz"
    save_weights(path, model, desc, half=False)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    name = next(k for k, a in arrays.items() if a.dtype == np.float32 and a.size > 1)
    arrays[name] = arrays[name].astype(">f4")
    np.savez(path, **arrays)
    _, loaded, _ = load_model(path)
    assert np.array_equal(loaded.state_dict()[name].numpy(), arrays[name].astype("<f4"))
