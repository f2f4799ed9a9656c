"""The machine's physical peak from /proc/cpuinfo text (fake CPUs: Zen 5, Sapphire
Rapids with AMX, Zen 4, AVX2 only, Jetson Orin's Cortex-A78AE, unknown ones), a GPU's
from its properties, the share of peak per precision, and ONNX Runtime's achieved peak."""

from __future__ import annotations

import pytest

from edge.bench import peak
from edge.bench.peak import cpu_peak, gpu_peak, physical_cores, share


def cpuinfo(vendor, family, model, name, flags, mhz="2100.000"):
    block = (f"processor\t: {{i}}\nvendor_id\t: {vendor}\ncpu family\t: {family}\n"
             f"model\t\t: {model}\nmodel name\t: {name}\ncpu MHz\t\t: {mhz}\n"
             f"flags\t\t: fpu sse sse2 {flags}\n\n")
    return "".join(block.replace("{i}", str(i)) for i in range(2))


ZEN5 = cpuinfo("AuthenticAMD", 26, 2, "AMD EPYC 9B45 128-Core Processor",
               "fma avx avx2 avx512f avx512bw avx512vl avx512_vnni avx_vnni", mhz="3100.000")
SPR = cpuinfo("GenuineIntel", 6, 143, "Intel(R) Xeon(R) Gold 6430 @ 2.10GHz",
              "fma avx avx2 avx512f avx512bw avx512_vnni avx_vnni amx_tile amx_int8 amx_bf16",
              mhz="800.000")
ZEN4 = cpuinfo("AuthenticAMD", 25, 17, "AMD EPYC 9654 96-Core Processor",
               "fma avx avx2 avx512f avx512_vnni", mhz="2400.000")
HASWELL = cpuinfo("GenuineIntel", 6, 63, "Intel(R) Xeon(R) CPU E5-2680 v3 @ 2.50GHz",
                  "fma avx avx2")
ORIN = "".join(f"processor\t: {i}\nBogoMIPS\t: 62.50\nFeatures\t: fp asimd evtstrm aes pmull "
               f"sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n"
               f"CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x1\n"
               f"CPU part\t: 0xd42\nCPU revision\t: 1\n\n" for i in range(12))


def test_zen5_avx512_vnni_two_512_bit_pipes() -> None:
    p = cpu_peak(ZEN5, cores=2, machine="x86_64")
    assert (p["isa"], p["fma_pipes"], p["fp32_lanes"]) == ("AVX-512", 2, 16)
    assert p["fp32_gmacs"] == pytest.approx(2 * 2 * 16 * 3.1)
    assert p["int8_gmacs"] == pytest.approx(4 * p["fp32_gmacs"])  # vpdpbusd: 4 per lane
    assert "VNNI" in p["int8_unit"] and p["int8_macs_per_cycle"] == 128
    assert "cpu MHz" in p["clock_source"] and "Zen 5" in p["pipes_source"]
    assert p["assumptions"] == []  # the pipes come from the table, not a guess


def test_sapphire_rapids_amx_and_the_model_name_clock() -> None:
    p = cpu_peak(SPR, cores=4, machine="x86_64")
    # the model name's nominal GHz wins over 'cpu MHz' (an idle core's 800 MHz)
    assert p["clock_ghz"] == pytest.approx(2.1) and "model name" in p["clock_source"]
    assert p["fp32_gmacs"] == pytest.approx(4 * 2 * 16 * 2.1)
    assert p["int8_vnni_gmacs"] == pytest.approx(4 * p["fp32_gmacs"])
    assert p["int8_gmacs"] == pytest.approx(4 * 1024 * 2.1)  # AMX tiles: the widest unit
    assert "AMX" in p["int8_unit"] and any("AMX" in a for a in p["assumptions"])
    # the cpufreq maximum wins over both
    q = cpu_peak(SPR, cores=4, max_freq_khz=3_800_000, machine="x86_64")
    assert q["clock_ghz"] == pytest.approx(3.8) and "cpuinfo_max_freq" in q["clock_source"]


def test_zen4_runs_avx512_on_256_bit_units() -> None:
    p = cpu_peak(ZEN4, cores=1, machine="x86_64")
    assert (p["fma_pipes"], p["fp32_lanes"]) == (2, 8)
    assert p["fp32_gmacs"] == pytest.approx(16 * 2.4)
    assert p["int8_gmacs"] == pytest.approx(4 * 16 * 2.4)


def test_avx2_only_states_its_assumption_and_no_int8_peak() -> None:
    p = cpu_peak(HASWELL, cores=2, machine="x86_64")
    assert (p["isa"], p["fma_pipes"], p["fp32_lanes"]) == ("AVX2+FMA", 2, 8)
    assert p["fp32_gmacs"] == pytest.approx(2 * 2 * 8 * 2.5)
    assert p["pipes_source"] == "assumed"
    assert len(p["assumptions"]) == 1 and "not in the table" in p["assumptions"][0]
    assert p["int8_gmacs"] is None and "no VNNI" in p["int8_reason"]
    lines = peak.describe(p, None)
    assert any(x.startswith("Assumed: 2 FMA pipes") for x in lines)
    assert any("int8 peak not stated" in x and "no VNNI" in x for x in lines)


def test_jetson_orin_cortex_a78ae_neon_with_dot_product() -> None:
    p = cpu_peak(ORIN, cores=12, max_freq_khz=2_201_600, machine="aarch64")
    assert p["cpu"] == "Cortex-A78AE" and "ASIMD" in p["isa"]
    assert (p["fma_pipes"], p["fp32_lanes"]) == (2, 4)  # 2 x 128-bit NEON FMA pipes
    assert p["fp32_gmacs"] == pytest.approx(12 * 2 * 4 * 2.2016)
    assert p["int8_gmacs"] == pytest.approx(4 * p["fp32_gmacs"])  # sdot: 4 int8 per lane
    assert "sdot" in p["int8_unit"] and p["assumptions"] == []
    # no clock on aarch64's /proc/cpuinfo: without cpufreq the peak is unknown, said why
    none = cpu_peak(ORIN, cores=12, machine="aarch64")
    assert none["fp32_gmacs"] is None and "no clock" in none["fp32_reason"]
    # without asimddp: float32 only
    nodot = cpu_peak(ORIN.replace(" asimddp", ""), 12, 2_201_600, "aarch64")
    assert nodot["fp32_gmacs"] and nodot["int8_gmacs"] is None
    assert "asimddp" in nodot["int8_reason"]
    # an Arm core not in the table: the pipes are an assumption, labelled
    other = cpu_peak(ORIN.replace("0xd42", "0xd03"), 4, 1_500_000, "aarch64")
    assert other["pipes_source"] == "assumed" and "0xd03" in other["assumptions"][0]


@pytest.mark.parametrize("text, machine, words", [
    ("processor : 0\nisa : rv64imafdc\n", "riscv64", "riscv64"),
    (cpuinfo("GenuineIntel", 6, 15, "Core 2", "sse3"), "x86_64", "neither AVX-512"),
    ("processor : 0\nFeatures : fp\nCPU part : 0xd07\n", "aarch64", "no ASIMD"),
    (cpuinfo("GenuineIntel", 6, 63, "Xeon", "fma avx2").replace("cpu MHz\t\t: 2100.000\n", ""),
     "x86_64", "no clock"),
])
def test_unknown_cpus_give_none_with_a_reason(text, machine, words) -> None:
    p = cpu_peak(text, cores=2, machine=machine)
    assert p["fp32_gmacs"] is None and p["int8_gmacs"] is None
    assert words in p["fp32_reason"] and p["int8_reason"]
    assert any("unknown" in x for x in peak.describe(p, None))


def test_share_of_peak_per_precision() -> None:
    p = {"fp32_gmacs": 100.0, "int8_gmacs": 400.0}
    assert share(50.0, "fp32", p) == pytest.approx(0.5)
    assert share(50.0, "fp16", p) == pytest.approx(0.5)
    assert share(100.0, "int8", p) == pytest.approx(0.25)  # INT8 against the int8 peak
    assert share(50.0, "int8", {"fp32_gmacs": 100.0, "int8_gmacs": None}) is None
    assert share(None, "fp32", p) is None and share(1.0, "fp32", None) is None


def test_gpu_peak_from_device_properties() -> None:
    g = gpu_peak("Orin", "8.7", 16, 1_300_000)  # Jetson AGX Orin: 16 SMs of 128 cores
    assert g["fp32_gmacs"] == pytest.approx(16 * 128 * 1.3)
    assert g["int8_gmacs"] == pytest.approx(4 * g["fp32_gmacs"]) and "dp4a" in g["int8_unit"]
    assert gpu_peak("x", "3.5", 8, 1_000_000)["fp32_gmacs"] is None
    cpu = cpu_peak(ORIN, 12, 2_201_600, "aarch64")
    line = peak.describe({**cpu, "gpu": g}, None)[-1]
    assert line.startswith("GPU Orin (compute capability 8.7): float32 2662 GMAC/s = 16 SMs")
    assert "tensor cores not counted" in line
    assert "ClockRate" in g["clock_source"] or "clock" in gpu_peak("x", "8.7", 8, 0)[
        "fp32_reason"]


def test_smt_siblings_count_once(tmp_path) -> None:
    for cpu, core in ((0, 0), (1, 1), (2, 0), (3, 1)):  # 2 cores, 2 threads each
        topo = tmp_path / f"cpu{cpu}" / "topology"
        topo.mkdir(parents=True)
        (topo / "physical_package_id").write_text("0\n")
        (topo / "core_id").write_text(f"{core}\n")
    assert physical_cores({0, 1, 2, 3}, tmp_path)[0] == 2
    assert physical_cores({0, 2}, tmp_path)[0] == 1
    n, how = physical_cores({0, 9}, tmp_path)  # no topology for cpu9: logical count
    assert n == 2 and "logical" in how


def test_this_machine_has_a_physical_peak_or_says_why() -> None:
    p = peak.machine_peak(1)
    assert p["cores"] == 1
    assert (p["fp32_gmacs"] or 0) > 0 or p["fp32_reason"]


def test_achieved_peak_is_onnxruntime_matmul() -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    a = peak.achieved_peak(1, n=64, repeats=1)
    assert a["fp32_gmacs"] > 0 and a["int8_gmacs"] > 0
    assert "ONNX Runtime" in a["kernel"] and "MatMulInteger" in a["kernel"]
