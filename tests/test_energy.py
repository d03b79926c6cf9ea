"""Energy and area: the figures come from the config's table (Bit Fusion's 45 nm numbers by default), the counts
from the simulator; the search can budget energy."""


import pytest

from hwsim.config import config_from_dict, load_config
from hwsim.errors import ConfigError, HwsimError
from hwsim.layers import Layer
from hwsim.systolic import simulate_layer

from conftest import CONFIGS

BIG = Layer("conv4_x", "conv", 16, 16, 256, 14, 14, 256, 3, 3, 1, 1)


def test_area_is_pe_array_plus_buffers(paper_hw):
    pe, sram = 16 * 32 * 1733.13e-6, (32 + 64 + 16) * 0.1086 / 16
    assert paper_hw.area_mm2() == pytest.approx(pe + sram)  # 0.887 + 0.760 mm2
    assert 1.6 < paper_hw.area_mm2() < 1.7


def test_energy_components_follow_the_counts(paper_hw):
    r = simulate_layer(BIG, paper_hw, 8, 8)
    e = paper_hw.energy
    assert r.energy_dram_pj == pytest.approx(8 * (r.dram_read_bytes + r.dram_write_bytes) * e.dram_pj_per_bit, rel=1e-6)
    fused = BIG.macs  # one MAC per fused operation at 8x8
    assert r.energy_compute_pj == pytest.approx(fused * e.pe_op_pj + r.total_cycles * 512 * e.pe_leak_pj_per_cycle)
    assert r.energy_pj == pytest.approx(r.energy_compute_pj + r.energy_sram_pj + r.energy_dram_pj)
    assert r.energy_sram_pj > 8 * r.sram_filter_bytes * e.sram_read_pj_per_bit.filter


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
    assert hw.area_mm2() == pytest.approx(16 * 687.61e-6 + 24 * 0.1086 / 16)
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
