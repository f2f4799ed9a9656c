"""``edge-build engine --device`` for real, over SSH, on this machine.

Real OpenSSH servers on 127.0.0.1 (tests/loopback_ssh.py; generated keys, known_hosts,
BatchMode) stand in for devices; each session gets the strict fake TensorRT and pycuda
(tests/fake_site) configured as its device: an Orin (TensorRT 10.3, cc 8.7, 16 SMs) and an
Orin Nano whose builds fail (8 SMs), a second Orin like the first, and one whose
engines build but do not run (only its self-test can tell). The commands are the ones a user types, through the
real argument parsers: the builds and self-tests run in the devices' sessions, the engines
come back into the store, ``--deploy`` installs the model where ``edge-run --model NAME``
finds it, and ``edge-build rollback`` swaps it back. Nothing connects anywhere but
127.0.0.1.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from edge.cli import build as build_cli
from edge.runtime.model import DEMO_EXPORT
from tests.loopback_ssh import REPO_ROOT, LoopbackSsh, skip_without_sshd

SITE = REPO_ROOT / "tests" / "fake_site"
ORIN = {"EDGE_FAKE_TRT_VERSION": "10.3.0.30", "EDGE_FAKE_GPU_NAME": "Orin",
        "EDGE_FAKE_CC": "8.7", "EDGE_FAKE_SMS": "16"}
NANO = {"EDGE_FAKE_TRT_VERSION": "10.3.0.30", "EDGE_FAKE_GPU_NAME": "Orin",
        "EDGE_FAKE_CC": "8.7", "EDGE_FAKE_SMS": "8",
        "EDGE_FAKE_BUILD_FAIL": "Requested amount of GPU memory (1073741824 bytes) could not "
                                "be allocated"}
ORIN_KEY = "orin-16sms-trt10.3.0-cc8.7"
PRECISIONS = "fp16,int8"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    skip_without_sshd()
    from tests.fake_device import build_emulator

    root = tmp_path_factory.mktemp("fleet")
    emu = build_emulator(root)
    common = {"PYTHONPATH": f"{SITE}:{REPO_ROOT}", "EDGE_FAKE_EMULATOR": str(emu._name)}
    lo = LoopbackSsh(root / "ssh")
    lo.add_device("orin-a", {**common, **ORIN})
    lo.add_device("nano-b", {**common, **NANO})
    lo.add_device("orin-d", {**common, **ORIN})  # a second board of orin-a's kind
    lo.add_device("orin-e", {**common, **ORIN, "EDGE_FAKE_MISCOMPILE": "1"})  # builds, fails
    lo.add_device("bare-c", {})  # edge-seg, but no TensorRT
    try:
        yield lo, root
    finally:
        lo.close()


def engine_cmd(lo, store: Path, *devices: str, extra=()) -> list[str]:
    return ["engine", "--export", str(DEMO_EXPORT), "--precision", PRECISIONS, "--out",
            str(store), "--ssh-config", str(lo.ssh_config), *[a for d in devices
                                                              for a in ("--device", d)],
            "--selftest-repeats", "1", "--holdout-images", "2", "--json", *extra]


def rows_of(capsys) -> tuple[dict, str]:
    cap = capsys.readouterr()
    return {r["device"]: r for r in json.loads(cap.out)}, cap.err


def test_one_command_builds_on_each_device_and_isolates_the_failing_one(fleet, capsys):
    lo, root = fleet
    store = root / "store"
    rc = build_cli.main(engine_cmd(lo, store, "orin-a", "nano-b"))
    rows, err = rows_of(capsys)
    assert rc == 3, err  # one device failed
    orin, nano = rows["orin-a"], rows["nano-b"]
    assert orin["status"] == "ok", orin["error"]
    assert orin["identity"] == ORIN_KEY
    assert orin["precisions"] == {"fp16": "built", "int8": "built"}
    assert orin["selftest"] in ("PASS", "INCOMPLETE")
    # the failing device: identified, its build's own error, nothing in the store for it
    assert nano["status"] == "failed" and nano["identity"] == "orin-8sms-trt10.3.0-cc8.7"
    assert nano["error"].startswith("nano-b: fp16, int8 build failed: "), nano["error"]
    assert "swap" in nano["error"]  # the device's own advice for an out-of-memory build
    assert nano["precisions"] == {"fp16": "failed", "int8": "failed"}
    assert sorted(p.name for p in store.iterdir() if p.name != ".locks") == [ORIN_KEY,
                                                                           "store.json"]
    # progress came back line by line, prefixed by device, interleaved (in parallel)
    lines = err.splitlines()
    orin_lines = [i for i, ln in enumerate(lines) if ln.startswith("[orin-a] ")]
    nano_lines = [i for i, ln in enumerate(lines) if ln.startswith("[nano-b] ")]
    assert orin_lines and nano_lines
    assert orin_lines[0] < nano_lines[-1] and nano_lines[0] < orin_lines[-1]
    assert any("building fp16 engines" in ln for ln in lines)
    # the summary table ends the run (on stderr with --json)
    lines = err.splitlines()
    table = lines[next(i for i, ln in enumerate(lines) if ln.split()[:2] == ["device",
                                                                          "identity"]):]
    assert table[0].split() == ["device", "identity", "fp16", "int8", "build", "s",
                                "self-test", "result"]
    assert table[2].split()[:4] == ["orin-a", ORIN_KEY, "built", "built"]
    assert table[2].split()[-2:] == [orin["selftest"], "ok"]
    assert table[3].split()[:4] == ["nano-b", "orin-8sms-trt10.3.0-cc8.7", "failed", "failed"]
    assert table[3].split()[-1] == "failed" and table[4].startswith("nano-b: fp16, int8")
    # the store entry: engines of both precisions, verified; the device's self-test report
    entry = store / ORIN_KEY
    folder = json.loads((entry / "engines.json").read_text())
    assert {e["precision"] for e in folder["engines"]} == {"fp16", "int8"}
    assert folder["device"]["trt_version"] == "10.3.0.30" and folder["device"]["sm_count"] == 16
    rec = json.loads((entry / "fleet.json").read_text())
    assert rec["precisions"] == ["fp16", "int8"] and rec["destination"] == "orin-a"
    assert json.loads((entry / "selftest" / "selftest.json").read_text())["status"]
    # only what TensorRT 10.3 builds from (+ the FP32 graphs the self-test compares with)
    up = next((lo.devices["orin-a"].home / "uploads").iterdir())
    sent = {p.name for p in up.iterdir()}
    manifest = json.loads((up / "manifest.json").read_text())
    assert sent == {f["file"] for f in manifest["files"]} | {"manifest.json"}
    assert not any(n.endswith(".int8.onnx") for n in sent)  # ONNX Runtime's INT8: not needed
    assert any(n.endswith(".onnx") for n in sent)


def test_a_second_run_skips_current_devices_and_force_rebuilds_without_resending(fleet,
                                                                                  capsys):
    lo, root = fleet
    store = root / "store"
    if not (store / ORIN_KEY).is_dir():
        build_cli.main(engine_cmd(lo, store, "orin-a"))
        capsys.readouterr()
    before = (store / ORIN_KEY / "fleet.json").read_text()
    rc = build_cli.main(engine_cmd(lo, store, "orin-a"))
    rows, err = rows_of(capsys)
    assert rc == 0, err
    assert rows["orin-a"]["status"] == "current"
    assert rows["orin-a"]["precisions"] == {"fp16": "current", "int8": "current"}
    assert (store / ORIN_KEY / "fleet.json").read_text() == before  # untouched
    # --force rebuilds; every graph is already there with its sha256: nothing is re-sent
    up = next((lo.devices["orin-a"].home / "uploads").iterdir())
    victim = sorted(p for p in up.iterdir() if p.name.endswith(".onnx"))[0]
    victim.unlink()  # one missing graph: exactly it goes again
    rc = build_cli.main(engine_cmd(lo, store, "orin-a", extra=["--force", "--no-selftest"]))
    rows, err = rows_of(capsys)
    assert rc == 0, err
    assert rows["orin-a"]["status"] == "ok"
    assert rows["orin-a"]["uploaded_files"] == 1 and rows["orin-a"]["skipped_files"] >= 1
    assert victim.is_file()


def test_a_device_without_tensorrt_is_told_how_to_install_it(fleet, capsys):
    lo, root = fleet
    rc = build_cli.main(engine_cmd(lo, root / "store-bare", "bare-c"))
    rows, _ = rows_of(capsys)
    assert rc == 3
    assert "TensorRT is not importable there" in rows["bare-c"]["error"]
    assert "nvidia-jetpack" in rows["bare-c"]["error"]


def test_an_unreachable_device_fails_alone(fleet, capsys, tmp_path):
    lo, _ = fleet
    cfg = tmp_path / "ssh_config"
    text = lo.ssh_config.read_text()
    port = lo.devices["orin-a"].port
    cfg.write_text(text.replace(f"Port {port}", "Port 9", 1))  # nothing listens on 9
    rc = build_cli.main(["engine", "--export", str(DEMO_EXPORT), "--precision", "fp16",
                         "--out", str(tmp_path / "s"), "--ssh-config", str(cfg),
                         "--device", "orin-a", "--json"])
    rows, _ = rows_of(capsys)
    assert rc == 3 and "ssh orin-a failed" in rows["orin-a"]["error"]
    assert "reachable" in rows["orin-a"]["error"]


def test_deploy_installs_where_edge_run_finds_it_and_rollback_swaps_back(fleet, capsys):
    lo, root = fleet
    store = root / "store"
    rc = build_cli.main(engine_cmd(lo, store, "orin-a", extra=["--deploy", "people",
                                                               "--no-selftest"]))
    rows, err = rows_of(capsys)
    assert rc == 0, err
    first = rows["orin-a"]["deployed"]["current"]
    rc = build_cli.main(engine_cmd(lo, store, "orin-a", extra=["--deploy", "people", "--force",
                                                               "--no-selftest"]))
    rows, err = rows_of(capsys)
    assert rc == 0, err
    second = rows["orin-a"]["deployed"]
    assert second["previous"] == first and second["current"] != first
    # on the device, edge-run --model people runs the installed engines through TensorRT
    out = lo.ssh("orin-a", "python3 -m edge.cli.run --model people --precision fp16 "
                           "--frames 3 --headless --json run.jsonl && tail -c 400 run.jsonl",
                 timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "tensorrt" in out.stderr.lower()
    # edge-run --model STORE on the device picks its own identity's entry
    out = lo.ssh("orin-a", f"python3 -m edge.cli.run --model {shlex.quote(str(store))} "
                           f"--precision int8 --frames 2 --headless", timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert ORIN_KEY in out.stderr
    # the Nano has no entry: refused, naming its identity and the command
    out = lo.ssh("nano-b", f"python3 -m edge.cli.run --model {shlex.quote(str(store))} "
                           f"--precision fp16 --frames 1 --headless", timeout=120)
    assert out.returncode == 2
    assert "no engines for this device" in out.stderr and "orin-8sms" in out.stderr
    # rollback, through the real parser
    rc = build_cli.main(["rollback", "people", "--device", "orin-a", "--ssh-config",
                         str(lo.ssh_config), "--json"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    back = json.loads(cap.out)[0]
    assert back["current"] == first and back["previous"] == second["current"]
    link = lo.devices["orin-a"].home / "models" / "people"
    assert str(link.resolve()) == first



def test_devices_of_one_identity_build_once_and_all_get_the_engines(fleet, capsys):
    """Two Orins of one identity: one builds while the other waits for it, then finds the
    store current; --deploy sends the engines to the one that did not build them."""
    lo, root = fleet
    store = root / "store-twins"
    rc = build_cli.main(engine_cmd(lo, store, "orin-a", "orin-d",
                                   extra=["--deploy", "twins", "--no-selftest"]))
    rows, err = rows_of(capsys)
    assert rc == 0, err
    assert sorted(r["status"] for r in rows.values()) == ["current", "ok"], rows
    assert all(r["identity"] == ORIN_KEY and r["deployed"] for r in rows.values())
    assert sorted(p.name for p in store.iterdir() if p.name != ".locks") == [ORIN_KEY,
                                                                           "store.json"]
    waited = next(d for d, r in rows.items() if r["status"] == "current")
    assert f"[{waited}] sent " in err  # the engines went to the board that did not build
    out = lo.ssh(waited, "python3 -m edge.cli.run --model twins --precision int8 --frames 2 "
                         "--headless", timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]


def test_a_build_that_fails_its_self_test_is_kept_aside_and_never_deployed(fleet, capsys):
    """orin-e builds engines that do not run: its self-test FAILs (exit 2), the engines go
    to STORE/.failed/KEY, the store keeps the good entry another board built, and --deploy
    does not install them."""
    lo, root = fleet
    store = root / "store-miscompiled"
    rc = build_cli.main(engine_cmd(lo, store, "orin-a"))
    capsys.readouterr()
    assert rc == 0
    good = (store / ORIN_KEY / "fleet.json").read_text()
    rc = build_cli.main(engine_cmd(lo, store, "orin-e", extra=["--force", "--deploy", "bad"]))
    rows, err = rows_of(capsys)
    row = rows["orin-e"]
    assert rc == 3 and row["status"] == "failed" and row["selftest"] == "FAIL", row
    assert "self-test FAIL" in row["error"] and "keeps its previous entry" in row["error"]
    assert row["deployed"] is None and not (lo.devices["orin-e"].home / "models").exists()
    assert (store / ORIN_KEY / "fleet.json").read_text() == good
    failed = store / ".failed" / ORIN_KEY
    assert json.loads((failed / "selftest" / "selftest.json").read_text())["status"] == "fail"
    assert json.loads((failed / "fleet.json").read_text())["selftest"] == "FAIL"
    # a later run with the self-test off does not report that old FAIL as this run's
    rc = build_cli.main(engine_cmd(lo, root / "store-miscompiled-2", "orin-e",
                                   extra=["--no-selftest"]))
    rows, _ = rows_of(capsys)
    assert rc == 0 and rows["orin-e"]["selftest"] == "off"
    entry = root / "store-miscompiled-2" / ORIN_KEY
    assert not (entry / "selftest").exists()
