"""SCALE-Sim's USER bandwidth mode: hwsim's replay equals SCALE-Sim 3.0.0 layer by layer.

References in tests/data/scalesim/user were made by the real SCALE-Sim (make_user_refs.py there):
its example 32x32 config in USER mode in all three dataflows, smaller buffers with unequal fill and
drain rates, 8x8 arrays with 1 KiB buffers; on its own example topologies, ours, and a DP layer.
"""

import csv
from collections import defaultdict

import pytest

from hwsim.config import load_config
from hwsim.errors import HwsimError
from hwsim.systolic import simulate_layer
from hwsim.systolic.scalesim_user import user_mode_cycles
from hwsim.workload import layers_from_topology

from conftest import DATA

USER = DATA / "scalesim" / "user"
REFS = sorted(p.stem[len("ref_"):] for p in USER.glob("ref_*.csv"))


def _split(pair: str) -> tuple[str, str]:
    cfg, topo = pair.split("_topo_")
    return cfg, "topo_" + topo


def _reference(path) -> dict[str, list[int]]:
    """Layer name -> [incl. prefetch, total, stalls], a DP layer's per-channel rows summed."""
    out = defaultdict(lambda: [0, 0, 0])
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            name = row["LayerName"].split("Channel_")[0]
            for i, key in enumerate(("Total Cycles (incl. prefetch)", "Total Cycles", "Stall Cycles")):
                out[name][i] += int(row[key])
    return dict(out)


def test_reference_set_is_complete():
    """The set the README quotes: 39 runs, 203 SCALE-Sim report rows (a DP layer gives one row per channel)."""
    assert len(REFS) >= 39
    assert any(p.endswith("topo_resnet18") for p in REFS)
    rows = sum(len(list(csv.DictReader(open(USER / f"ref_{pair}.csv", newline="")))) for pair in REFS)
    assert rows >= 203


@pytest.mark.slow
@pytest.mark.parametrize("pair", REFS)
def test_user_mode_equals_scalesim(pair):
    cfg, topo = _split(pair)
    hw = load_config(USER / f"{cfg}.cfg")
    assert hw.timing == "scalesim" and hw.scalesim_user_bw is not None
    ref = _reference(USER / f"ref_{pair}.csv")
    layers = layers_from_topology(USER / f"{topo}.csv")
    assert [layer.name for layer in layers] == list(ref)
    for layer in layers:
        want = ref[layer.name]
        r = simulate_layer(layer, hw, 8, 8)
        assert (r.total_cycles, r.stall_cycles) == (want[1], want[2]), layer.name
        assert r.total_cycles == r.compute_cycles + r.stall_cycles
        u = user_mode_cycles(layer, hw.rows, hw.cols, hw.dataflow, tuple(hw.sram_kib), hw.scalesim_user_bw)
        assert u.total_incl_prefetch == want[0], layer.name


@pytest.mark.slow
def test_issue_case_resnet18_os_32x32():
    """The case that showed the gap: SCALE-Sim's ResNet-18, 32x32 OS, 64 KiB, 10 words/cycle."""
    hw = load_config(USER / "scale_os.cfg")
    layers = layers_from_topology(USER / "topo_resnet18.csv")
    total = sum(simulate_layer(layer, hw).total_cycles for layer in layers)
    assert total == 19_971_167  # SCALE-Sim 3.0.0; hwsim's CALC-style count would be 1,718,353


def test_user_mode_stalls_grow_as_the_fill_slows():
    """Fewer words per cycle into the buffers: SCALE-Sim's stalls only grow on this layer."""
    layer = layers_from_topology(USER / "topo_example_inc5b.csv")[0]
    stalls = [user_mode_cycles(layer, 32, 32, "os", (8, 8, 8), (bw, bw, bw)).stalls for bw in (64, 16, 4, 1)]
    assert stalls == sorted(stalls) and stalls[-1] > stalls[0]


def _cfg_text(**changes) -> str:
    text = (USER / "scale_os.cfg").read_text()
    for key, value in changes.items():
        lines = [f"{key} = {value}" if line.split("=")[0].strip() == key else line for line in text.splitlines()]
        text = "\n".join(lines) + "\n"
    return text


@pytest.mark.parametrize("change,message", [
    ({"IfmapCustomLayout": "True"}, "layout.IfmapCustomLayout"),
    ({"UseRamulatorTrace": "True"}, "run_presets.UseRamulatorTrace"),
    ({"Bandwidth": "2.5"}, "Bandwidth"),
    ({"FilterSRAMBankBandwidth": "0"}, "layout.FilterSRAMBankBandwidth"),
])
def test_user_mode_config_errors(tmp_path, change, message):
    path = tmp_path / "bad.cfg"
    path.write_text(_cfg_text(**change))
    with pytest.raises(HwsimError, match=message):
        load_config(path)


def test_user_mode_reads_three_rates(tmp_path):
    path = tmp_path / "rates.cfg"
    path.write_text(_cfg_text(IfmapSRAMBankBandwidth=4, FilterSRAMBankBandwidth=16, Bandwidth=2))
    hw = load_config(path)
    assert hw.scalesim_user_bw == (4, 16, 2)
    assert hw.with_timing("hwsim").dram_bytes_per_cycle() == pytest.approx(2.0)


def test_user_mode_refuses_a_batch():
    import dataclasses

    hw = load_config(USER / "scale_os.cfg")
    layer = dataclasses.replace(layers_from_topology(USER / "topo_convs.csv")[0], batch=2)
    with pytest.raises(HwsimError, match="USER bandwidth mode has no batch"):
        simulate_layer(layer, hw)
