"""At 8x8 bits with unlimited bandwidth, hwsim's cycles equal SCALE-Sim 3.0.0's, layer by layer.

The reference CSVs in tests/data/scalesim were produced by the real SCALE-Sim (see the
README there for the exact command).
"""

import csv
import itertools

import pytest

from hwsim.config import load_config
from hwsim.systolic import simulate_layer
from hwsim.workload import layers_from_topology

from conftest import DATA

SCALESIM = DATA / "scalesim"
CFGS = ["os_8x8", "ws_8x8", "is_8x8", "os_16x32", "ws_16x32", "is_16x32"]
TOPOS = ["topo_convs", "topo_gemm"]


def _reference(cfg, topo):
    with open(SCALESIM / f"ref_{cfg}_{topo}.csv", newline="") as fh:
        return {row["LayerName"]: row for row in csv.DictReader(fh)}


@pytest.mark.parametrize("cfg,topo", list(itertools.product(CFGS, TOPOS)))
def test_cycles_equal_scalesim(cfg, topo):
    hw = load_config(SCALESIM / f"{cfg}.cfg")
    ref = _reference(cfg, topo)
    layers = layers_from_topology(SCALESIM / f"{topo}.csv")
    assert [layer.name for layer in layers] == list(ref)
    for layer in layers:
        r = simulate_layer(layer, hw, 8, 8)
        row = ref[layer.name]
        assert r.total_cycles == int(row["Total Cycles"]), layer.name
        assert r.stall_cycles == int(row["Stall Cycles"]) == 0
        assert r.utilization * 100 == pytest.approx(float(row["Overall Util %"]), rel=1e-9)
        assert r.mapping_efficiency * 100 == pytest.approx(float(row["Mapping Efficiency %"]), rel=1e-9)


def test_scalesim_cfg_is_fixed_precision():
    hw = load_config(SCALESIM / "os_8x8.cfg")
    assert (hw.rows, hw.cols, hw.dataflow, hw.bits) == (8, 8, "os", (8,))
    assert hw.sram_kib.ifmap == 64 and hw.dram_gb_per_s is None
