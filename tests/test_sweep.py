"""`hwsim sweep`: specs validated, points enumerated and sampled, the same table on any executor, resume."""

import dataclasses

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings, strategies as st

from hwsim.explore.frontier import pareto_mask
from hwsim.explore.spec import load_spec
from hwsim.explore.sweep import run_sweep
from hwsim.targets import simulate_network
from hwsim.cli import main

from conftest import CONFIGS, DATA

TOPO = DATA / "scalesim" / "topo_convs.csv"
BASE = CONFIGS / "bitfusion_16x32.yaml"


def _spec(tmp_path, text):
    path = tmp_path / "spec.yaml"
    path.write_text(text.format(base=BASE, topo=TOPO))
    return path


SMALL = """\
base: {base}
axes:
  array.rows: [8, 16]
  array.cols: {{from: 16, to: 32, step: 16}}
  dram_gb_per_s: {{from: 4, to: 16, num: 3, scale: log}}
  dataflow: [os, ws]
models: [{topo}]
precisions: [w8a8, w2a4]
"""


def test_grid_points_and_their_configs(tmp_path):
    spec = load_spec(_spec(tmp_path, SMALL))
    assert spec.grid_size == 2 * 2 * 3 * 2 * 1 * 2
    assert [a.values for a in spec.axes] == [(8, 16), (16, 32), (4.0, 8.0, 16.0), ("os", "ws")]
    points = list(spec.points())
    assert [p.index for p in points] == list(range(48)) and len({p.key() for p in points}) == 48
    p = points[13]
    assert spec.point(13) == p
    assert p.config["array"]["rows"] == p.values["array.rows"] and p.config["dataflow"] == p.values["dataflow"]


def test_records_equal_direct_simulation(tmp_path):
    from hwsim.explore.run import run_point
    from hwsim.config import config_from_dict
    from hwsim.workload import layers_from_topology

    spec = load_spec(_spec(tmp_path, SMALL))
    p = spec.point(29)
    record = run_point(p)
    direct = simulate_network(layers_from_topology(TOPO), config_from_dict(p.config), (2, 4), whole_network=True)
    assert record["latency_ms"] == direct.latency_ms and record["total_cycles"] == direct.total_cycles
    assert record["area_mm2"] == pytest.approx(direct.area_mm2) and record["energy_uj"] == pytest.approx(direct.energy_uj)
    assert record["precision"] == "w2a4" and record["model"] == "topo_convs"


@pytest.mark.parametrize("sampling", ["random", "lhs"])
def test_samples_are_distinct_points_of_the_grid(tmp_path, sampling):
    spec = dataclasses.replace(load_spec(_spec(tmp_path, SMALL)), samples=20, sampling=sampling)
    idx = spec.indices()
    assert len(idx) == 20 == len(set(idx.tolist())) and idx.min() >= 0 and idx.max() < spec.grid_size
    assert np.array_equal(idx, spec.indices())  # the seed fixes it
    if sampling == "lhs":  # every value of a 2-value axis appears
        assert {spec.point(int(i)).values["array.rows"] for i in idx} == {8, 16}


def test_same_table_with_one_or_two_processes_and_resume(tmp_path, capsys):
    spec_path = _spec(tmp_path, SMALL)
    spec = load_spec(spec_path)
    one = run_sweep(spec, tmp_path / "one", jobs=1, plots=False)
    two = run_sweep(spec, tmp_path / "two", jobs=2, plots=False)
    assert one.table.equals(two.table) and one.table.num_rows == 48
    assert (tmp_path / "one" / "sweep.csv").read_bytes() == (tmp_path / "two" / "sweep.csv").read_bytes()
    # interrupted: half the parts lost; the rerun simulates only their points and ends with the same table
    parts = sorted(next((tmp_path / "two").glob("parts-*")).glob("part-*.parquet"))
    lost = sum(pq.read_metadata(p).num_rows for p in parts[::2])
    for p in parts[::2]:
        p.unlink()
    again = run_sweep(spec, tmp_path / "two", jobs=2, plots=False)
    assert again.simulated == lost and again.reused == 48 - lost
    assert again.table.equals(one.table)


def test_merge_gathers_small_parts_into_row_groups(tmp_path, monkeypatch):
    """Parts of a few points are written as row groups of ROW_GROUP rows (one footer entry per part made the
    merge's memory grow with the sweep); the table is the same whatever the row-group size."""
    import hwsim.explore.store as store

    spec = load_spec(_spec(tmp_path, SMALL))
    whole = run_sweep(spec, tmp_path / "whole", jobs=1, chunk=5, plots=False)
    assert pq.ParquetFile(tmp_path / "whole" / "sweep.parquet").num_row_groups == 1
    monkeypatch.setattr(store, "ROW_GROUP", 7)
    monkeypatch.setattr(store, "CSV_BATCH", 3)
    grouped = run_sweep(spec, tmp_path / "grouped", jobs=1, chunk=5, plots=False)
    meta = pq.ParquetFile(tmp_path / "grouped" / "sweep.parquet").metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [7] * 6 + [6]
    assert grouped.table.equals(whole.table)
    assert (tmp_path / "whole" / "sweep.csv").read_bytes() == (tmp_path / "grouped" / "sweep.csv").read_bytes()
    monkeypatch.setattr(store, "ROW_GROUP", 2)  # parts (5 rows) larger than a row group are cut into several
    small = run_sweep(spec, tmp_path / "small", jobs=1, chunk=5, plots=False)
    meta = pq.ParquetFile(tmp_path / "small" / "sweep.parquet").metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [2] * 24
    assert small.table.equals(whole.table)


def test_interrupted_sweep_keeps_finished_chunks(tmp_path, monkeypatch):
    import hwsim.explore.sweep as sweep_mod

    spec = load_spec(_spec(tmp_path, SMALL))
    real, calls = sweep_mod.write_part, []

    def flaky(*args, **kwargs):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_mod, "write_part", flaky)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, tmp_path / "out", jobs=1, chunk=5, plots=False)
    assert not (tmp_path / "out" / "sweep.parquet").exists()
    monkeypatch.setattr(sweep_mod, "write_part", real)
    resumed = run_sweep(spec, tmp_path / "out", jobs=1, chunk=5, plots=False)
    assert resumed.reused == 15 and resumed.simulated == 33 and resumed.table.num_rows == 48


@pytest.mark.slow
def test_ray_gives_the_same_table(tmp_path):
    pytest.importorskip("ray")
    spec = load_spec(_spec(tmp_path, SMALL))
    local = run_sweep(spec, tmp_path / "local", jobs=1, plots=False)
    on_ray = run_sweep(spec, tmp_path / "ray", jobs=2, ray=True, plots=False)
    assert on_ray.table.equals(local.table)


def test_cli_writes_tables_plots_and_prints_the_front(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", str(_spec(tmp_path, SMALL)), "-o", str(out), "--jobs", "1", "--quiet"]) == 0
    stdout = capsys.readouterr().out
    assert stdout.startswith("Pareto front of latency vs area_mm2 per model (48 points)")
    for name in ("sweep.parquet", "sweep.csv", "latency_ms_vs_area_mm2.png", "energy_uj_vs_latency_ms.svg",
                 "heatmap_latency_ms.png"):
        assert (out / name).is_file(), name
    table = pq.read_table(out / "sweep.parquet")
    front = [line.split() for line in stdout.splitlines()[2:]]
    lat, area = np.array(table.column("latency_ms")), np.array(table.column("area_mm2"))
    assert len(front) == int(pareto_mask(area, lat).sum())


def test_arm_sweep_over_threads_and_clock(tmp_path, capsys):
    spec = _spec(tmp_path, f"""\
base: {CONFIGS / 'cortex_a53_rpi3b.yaml'}
axes:
  threads: [1, 2, 4]
  clock_mhz: [600, 1200]
models: [{TOPO}]
precisions: [w8a8, w2a2]
""")
    result = run_sweep(load_spec(spec), tmp_path / "out", jobs=1, plots=False)
    rows = result.table.to_pylist()
    assert len(rows) == 12 and all(r["area_mm2"] is None and r["energy_uj"] is None for r in rows)
    by = {(r["threads"], r["clock_mhz"], r["precision"]): r["latency_ms"] for r in rows}
    for clock in (600, 1200):
        for prec in ("w8a8", "w2a2"):
            assert by[(4, clock, prec)] <= by[(2, clock, prec)] <= by[(1, clock, prec)]
    assert main(["sweep", str(spec), "-o", str(tmp_path / "cli"), "--jobs", "1", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("Fastest point per model (12 points; this target has no area")


@pytest.mark.parametrize("text,expected", [
    ("base: {base}\naxes: {{array.depth: [1]}}\nmodels: [resnet18]\nprecisions: [w8a8]\n",
     "axes.array.depth: unknown axis; allowed: array.rows"),
    ("base: {base}\naxes: {{array.rows: []}}\nmodels: [resnet18]\nprecisions: [w8a8]\n",
     "axes.array.rows: got []; allowed: a non-empty list"),
    ("base: {base}\naxes: {{array.rows: {{from: 8, to: 4, step: 1}}}}\nmodels: [resnet18]\nprecisions: [w8a8]\n",
     "empty range from 8 to 4"),
    ("base: {base}\naxes: {{sram_kib.ifmap: [-16, 32]}}\nmodels: [resnet18]\nprecisions: [w8a8]\n",
     "axes.sram_kib.ifmap: value -16 makes an invalid config"),
    ("base: {base}\naxes: {{dataflow: [os, xs]}}\nmodels: [resnet18]\nprecisions: [w8a8]\n",
     "value 'xs' makes an invalid config"),
    ("base: {base}\nmodels: [resnet18]\nprecisions: [w3a8]\n", "precisions: w3a8: weight bit-width 3 is not supported"),
    ("base: {base}\nmodels: [resnet18]\nprecisions: [w8a8]\nsampling: sobol\n", "sampling: 'sobol'; allowed: grid"),
    ("base: {base}\nmodels: [resnet18]\nprecisions: [w8a8]\nsamples: 0\n", "samples: 0; allowed: an integer from 1 to 10,000,000"),
    ("base: {base}\nmodels: []\nprecisions: [w8a8]\n", "models: got []; allowed: a non-empty list"),
    ("base: {base}\nmodels: [nothere.csv]\nprecisions: [w8a8]\n", "topology file 'nothere.csv' not found"),
    ("base: {base}\nmodels: [resnet18]\nprecisions: [w8a8]\ncolour: red\n", "colour: unknown field"),
    ("models: [resnet18]\nprecisions: [w8a8]\n", "base: missing"),
    ("base: nothere.yaml\nmodels: [resnet18]\nprecisions: [w8a8]\n", "base hardware config not found"),
    ("base: {base}\naxes: {{array.rows: [8, 16]}}\nmodels: [resnet18]\nprecisions: [w8a8]\nheatmap: [array.rows, x]\n",
     "heatmap: ['array.rows', 'x']; allowed: two different axes"),
])
def test_bad_specs_one_line_exit_2(tmp_path, capsys, text, expected):
    out = tmp_path / "out"
    assert main(["sweep", str(_spec(tmp_path, text)), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwsim: error:") and expected in err and err.count("\n") == 1, err
    assert not out.exists()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(0.01, 100), st.floats(0.01, 100)), min_size=1, max_size=40))
def test_pareto_mask_is_exactly_the_non_dominated_set(pts):
    x, y = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
    mask = pareto_mask(x, y)
    for i in range(len(pts)):
        dominated = any((x[j] <= x[i] and y[j] <= y[i]) and (x[j] < x[i] or y[j] < y[i]) for j in range(len(pts)))
        duplicate_earlier = any(x[j] == x[i] and y[j] == y[i] and mask[j] for j in range(len(pts)) if j != i)
        assert mask[i] == (not dominated and not duplicate_earlier)
