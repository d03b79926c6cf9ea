"""Energy and area: the figures come from the config's table (Bit Fusion's 45 nm numbers by default), the counts
from the simulator; the search can budget energy."""


import dataclasses

import pytest
from hypothesis import given, settings, strategies as st

from hwsim.config import config_from_dict, load_config
from hwsim.energy import BUFFERS, buffer_models, layer_energy
from hwsim.memory_model import PORTS, bank_figures, sram_nodes
from hwsim.errors import ConfigError, HwsimError
from hwsim.layers import Layer
from hwsim.systolic import simulate_layer

from conftest import CONFIGS

BIG = Layer("conv4_x", "conv", 16, 16, 256, 14, 14, 256, 3, 3, 1, 1)


def test_area_is_bit_fusions_own_area_model(paper_hw):
    # Bit Fusion's simulator (get_area): 16x32 fusion units of 1,733.13 um2, an input bank of 2 KiB per row,
    # a weight bank of 128 B per PE, an output bank of 512 B (with a read-write port) per column, each priced
    # by its CACTI sweep (bitfusion/sram/cacti_sweep.csv): 2.14 mm2, of which 1.25 mm2 is SRAM.
    pe = 16 * 32 * 1733.13e-6
    sram = 16 * 0.015132 + 512 * 0.00149898 + 32 * 0.00760331
    assert paper_hw.area_mm2() == pytest.approx(pe + sram, rel=1e-6)
    assert round(paper_hw.area_mm2(), 2) == 2.14 and round(sram, 2) == 1.25


def test_energy_components_follow_the_counts(paper_hw):
    r = simulate_layer(BIG, paper_hw, 8, 8)
    e = paper_hw.energy
    assert r.energy_dram_pj == pytest.approx(8 * (r.dram_read_bytes + r.dram_write_bytes) * 15.0, rel=1e-6)
    fused = BIG.macs  # one MAC per fused operation at 8x8
    assert r.energy_compute_pj == pytest.approx(fused * e.pe_op_pj + r.total_cycles * 512 * e.pe_leak_pj_per_cycle)
    assert r.energy_pj == pytest.approx(r.energy_compute_pj + r.energy_sram_pj + r.energy_dram_pj)
    leak_mw = 16 * 3.22997 + 512 * 0.249588 + 32 * 1.03183  # CACTI leakage of every bank
    assert r.energy_sram_leak_pj == pytest.approx(leak_mw * r.total_cycles * 2.0, rel=1e-6)  # 2 ns per cycle
    read_filter = 0.683701 / 32  # pJ per bit of a 128 B bank's 32-bit read
    assert r.energy_sram_pj - r.energy_sram_leak_pj > 8 * r.sram_filter_bytes * read_filter


def test_dram_type_and_leakage_scale_are_config_fields(paper_hw):
    hbm = dataclasses.replace(paper_hw, energy=dataclasses.replace(paper_hw.energy, dram="hbm2"))
    quiet = dataclasses.replace(paper_hw, energy=dataclasses.replace(paper_hw.energy, sram_leak_scale=0.0))
    base, r_hbm, r_quiet = (simulate_layer(BIG, h, 8, 8) for h in (paper_hw, hbm, quiet))
    assert r_hbm.energy_dram_pj == pytest.approx(base.energy_dram_pj * 3.9 / 15.0)
    assert r_quiet.energy_sram_leak_pj == 0 and r_quiet.energy_sram_pj < base.energy_sram_pj
    assert r_quiet.total_cycles == base.total_cycles == r_hbm.total_cycles


def test_tabulated_sizes_are_reproduced_and_others_interpolated():
    assert bank_figures(45, "1r1w", 2048).read_pj == pytest.approx(1.90318)
    assert bank_figures(45, "1r1w1rw", 4096).area_mm2 == pytest.approx(0.0485739)
    mid = bank_figures(45, "1r1w", 3000).read_pj
    assert 1.90318 < mid < 3.42953


SIZES = st.floats(1.0, 2.0 ** 32, allow_nan=False)


_FIGURES_OF_EVERY_TABLE = """
from hwsim.memory_model import PORTS, bank_figures, sram_nodes
for node in sram_nodes():
    for ports in PORTS:
        for size in (1.0, 3.0, 100.0, 700.0, 2048.0, 5000.0, 65536.0, 1e6, 3e7):
            print(repr(tuple(bank_figures(node, ports, size))))
"""


def test_bank_figures_are_the_same_whatever_code_the_cpu_picks():
    # numpy's log has an AVX-512 variant and polyfit's LAPACK picks OpenBLAS kernels by CPU: the fit that used them
    # gave energies differing in the last digits between two machines (the golden file failed on an AVX-512 one).
    # Here a second process gets OpenBLAS's generic kernels and no AVX-512 loops in numpy, where the CPU has them.
    import os
    import subprocess
    import sys

    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    avx512 = [f for f in __cpu_dispatch__ if f.startswith("AVX512") and __cpu_features__.get(f)]
    env = {**os.environ, "OPENBLAS_CORETYPE": "Prescott"}
    if avx512:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(avx512)
    here = subprocess.run([sys.executable, "-c", _FIGURES_OF_EVERY_TABLE], capture_output=True, text=True, check=True)
    there = subprocess.run([sys.executable, "-c", _FIGURES_OF_EVERY_TABLE], capture_output=True, text=True, check=True,
                           env=env)
    assert here.stdout.count("\n") == len(PORTS) * 9 * len(sram_nodes())
    assert here.stdout == there.stdout


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PORTS), SIZES, SIZES)
def test_a_bigger_bank_never_costs_less(ports, a, b):
    small, big = sorted((a, b))
    lo, hi = bank_figures(45, ports, small), bank_figures(45, ports, big)
    assert all(x <= y * (1 + 1e-12) for x, y in zip(lo, hi))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 64), st.integers(1, 64), st.sampled_from(["rows", "cols", "pes", 1, 7, 64]),
       st.sampled_from(BUFFERS), st.floats(1 / 64, 4096), st.floats(1.0, 64.0))
def test_a_bigger_buffer_never_costs_less_per_access_or_area(rows, cols, banks, which, kib, factor):
    def hw(size):
        sram = {b: 16 for b in BUFFERS} | {which: size}
        return config_from_dict({"name": "x", "array": {"rows": rows, "cols": cols}, "dataflow": "os",
                                 "clock_mhz": 500, "bits": [2, 4, 8], "sram_kib": sram,
                                 "sram_bytes_per_cycle": {"ifmap": 8, "filter": 8, "ofmap": 8}, "dram_gb_per_s": 10,
                                 "requant_outputs_per_cycle": 4,
                                 "energy": {"sram_banks": {b: banks for b in BUFFERS}}})
    small, big = hw(kib), hw(kib * factor)
    s, b = buffer_models(small)[which], buffer_models(big)[which]
    for field in ("read_pj_per_bit", "write_pj_per_bit", "area_mm2", "leak_mw"):
        assert getattr(s, field) <= getattr(b, field) * (1 + 1e-12), field
    assert small.area_mm2() <= big.area_mm2() * (1 + 1e-12)


COUNT = st.floats(0, 1e9)


@settings(max_examples=300, deadline=None)
@given(st.lists(COUNT, min_size=9, max_size=9), st.integers(0, 8), st.floats(1, 1e9), st.booleans())
def test_moving_more_bytes_never_costs_less_energy(counts, which, extra, hbm):
    hw = load_config(CONFIGS / "bitfusion_16x32.yaml")
    if hbm:
        hw = dataclasses.replace(hw, energy=dataclasses.replace(hw.energy, dram="hbm2"))

    def total(c):
        return layer_energy(hw, c[0], int(c[1]), tuple(c[2:5]), tuple(c[5:8]), c[8], c[8] / 2).total_pj

    more = list(counts)
    more[which] += extra
    assert total(counts) <= total(more) * (1 + 1e-12)


def test_lower_precision_costs_less_energy(paper_hw):
    energies = {b: simulate_layer(BIG, paper_hw, *b).energy_pj for b in ((8, 8), (4, 4), (2, 2))}
    assert energies[(2, 2)] < energies[(4, 4)] < energies[(8, 8)]


def test_energy_table_is_overridable_and_checked():
    raw = load_config(CONFIGS / "bitfusion_16x32.yaml")
    doc = {"name": "x", "array": {"rows": 4, "cols": 4}, "dataflow": "os", "clock_mhz": 500, "bits": [2, 4, 8],
           "sram_kib": {"ifmap": 8, "filter": 8, "ofmap": 8},
           "sram_bytes_per_cycle": {"ifmap": 8, "filter": 8, "ofmap": 8}, "dram_gb_per_s": 10,
           "requant_outputs_per_cycle": 4, "energy": {"dram_pj_per_bit": 20, "pe_um2": 687.61}}
    hw = config_from_dict(doc)
    assert hw.energy.dram_pj_per_bit == 20 and hw.energy.pe_op_pj == raw.energy.pe_op_pj
    per_kib = config_from_dict({**doc, "energy": {"pe_um2": 687.61, "sram_mm2_per_kib": 0.1}})
    assert per_kib.area_mm2() == pytest.approx(16 * 687.61e-6 + 24 * 0.1)
    with pytest.raises(ConfigError, match="energy.technology_nm.*allowed: a node with a shipped SRAM table: 45"):
        config_from_dict({**doc, "energy": {"technology_nm": 28}})
    with pytest.raises(ConfigError, match="energy.dram.*ddr4"):
        config_from_dict({**doc, "energy": {"dram": "sdram"}})
    with pytest.raises(ConfigError, match="energy.sram_banks"):
        config_from_dict({**doc, "energy": {"sram_banks": {"ifmap": 0, "filter": "pes", "ofmap": "cols"}}})
    with pytest.raises(ConfigError, match="field 'energy.joules'"):
        config_from_dict({**doc, "energy": {"joules": 1}})
    with pytest.raises(ConfigError, match="field 'energy.sram_read_pj_per_bit'"):
        config_from_dict({**doc, "energy": {"sram_read_pj_per_bit": 0.1}})


def test_search_budgets_energy(tmp_path, capsys):
    from hwsim.lut import build_lut
    from hwsim.workload import layers_from_model_name
    from hwsim.search.build import problem_from_tables
    from hwsim.search.exact import solve_exact

    layers = layers_from_model_name("resnet18")[:4]
    lut = build_lut(layers, load_config(CONFIGS / "bitfusion_16x32.yaml"), "r18", progress=False)
    assert lut["area_mm2"] > 1 and all("energy_uj" in r for r in lut["layers"])
    sens = {"format": "hwsim-sensitivity/2", "policy": "first-last-8bit", "choices": ["w2a2", "w8a8"],
            "pinned": {layers[0].name: "w8a8", layers[-1].name: "w8a8"},
            "layers": {n.name: {"w2a2": 1.0, "w8a8": 0.0} for n in layers[1:-1]}, "pairs": []}
    p = problem_from_tables(lut, sens, 0.5, "fraction", "energy")
    assert p.cost_unit == "uJ" and solve_exact(p).cost <= p.budget * (1 + 1e-9)
    arm = build_lut(layers, load_config(CONFIGS / "cortex_a53_rpi3b.yaml"), "r18", progress=False)
    with pytest.raises(HwsimError, match="no energy_uj .* allowed metrics for it: latency, size"):
        problem_from_tables(arm, sens, 0.5, "fraction", "energy")


def test_the_readme_quotes_the_area_check_as_the_benchmark_prints_it(paper_hw, capsys):
    import sys
    sys.path.insert(0, str(CONFIGS.parent.parent / "benchmarks"))
    import memory_energy

    memory_energy.area_check(paper_hw)
    parts = ("| ifmap |", "| filter |", "| ofmap |", "| PE array |", "| total |")
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith(parts)]
    readme = (CONFIGS.parent.parent / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(printed) == 5 and all(line in readme for line in printed)
