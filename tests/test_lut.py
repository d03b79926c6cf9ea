"""Lookup tables: values equal the simulator, the cache is verified and rebuilt when bad, the CLI writes them."""

import json
import math

import pytest

from hwsim.cli import main
from hwsim.config import load_config
from hwsim.lut import build_lut, cached_lut, check_lut, lut_key
from hwsim.precision import PrecisionPolicy
from hwsim.targets import simulate_layer
from hwsim.workload import layers_from_topology

from conftest import CONFIGS, DATA

TOPO = DATA / "scalesim" / "topo_convs.csv"


@pytest.fixture(scope="module")
def layers():
    return layers_from_topology(TOPO)


@pytest.mark.parametrize("config", ["bitfusion_16x32", "cortex_a53_rpi3b"])
def test_entries_equal_the_simulator(layers, config):
    hw = load_config(CONFIGS / f"{config}.yaml")
    doc = build_lut(layers, hw, "topo", progress=False)
    assert doc["choices"] == ["w2a2", "w2a4", "w2a8", "w4a2", "w4a4", "w4a8", "w8a2", "w8a4", "w8a8"]
    for layer, row in zip(layers, doc["layers"]):
        for w, a in ((2, 2), (4, 8), (8, 8)):
            r = simulate_layer(layer, hw, w, a)
            assert row["latency_cycles"][f"w{w}a{a}"] == r.total_cycles
            assert row["latency_ms"][f"w{w}a{a}"] == r.latency_ms
            assert row["weight_bytes"][f"w{w}a{a}"] == math.ceil(layer.weight_count * w / 8)
    assert doc["totals"]["w8a8"]["latency_ms"] == pytest.approx(sum(r["latency_ms"]["w8a8"] for r in doc["layers"]))
    # the uniform totals obey the precision policy: the first and last layer count at w8a8
    rows = doc["layers"]
    first, last = rows[0]["name"], rows[-1]["name"]
    assert doc["policy"] == "first-last-8bit" and doc["pinned"] == {first: "w8a8", last: "w8a8"}
    assert doc["totals"]["w2a2"]["latency_ms"] == pytest.approx(
        rows[0]["latency_ms"]["w8a8"] + rows[-1]["latency_ms"]["w8a8"] + sum(r["latency_ms"]["w2a2"] for r in rows[1:-1]))
    plain = build_lut(layers, hw, "topo", progress=False, policy=PrecisionPolicy("none"))
    assert plain["pinned"] == {} and plain["key"] != doc["key"]
    assert plain["totals"]["w2a2"]["weight_bytes"] == sum(r["weight_bytes"]["w2a2"] for r in rows)
    assert len(doc["additivity"]) == 5
    for check in doc["additivity"]:
        # tiny layers: a 2-bit layer writing 8-bit outputs for a w8a8 reader costs it up to ~50%
        # more cycles, which the table (outputs at the layer's own bits) does not see
        assert abs(check["error_pct"]) < 10
        assert check["error_pct"] == pytest.approx(100 * (check["lut_sum_ms"] / check["network_ms"] - 1))


def test_parallel_equals_serial(layers, paper_hw):
    assert build_lut(layers, paper_hw, jobs=1, progress=False) == build_lut(layers, paper_hw, jobs=2, progress=False)


@pytest.mark.slow
def test_mixed_configs_are_not_exactly_additive(paper_hw):
    """Outputs requantized to the consumer's bits change write traffic: the check can see it."""
    from hwsim.workload import layers_from_model_name

    doc = build_lut(layers_from_model_name("resnet18"), paper_hw, progress=False)
    errors = [abs(a["error_pct"]) for a in doc["additivity"]]
    assert max(errors) > 0.0 and max(errors) < 2.0


def test_cache_hit_corruption_tampering_and_staleness(layers, paper_hw, tmp_path):
    doc, status = cached_lut(layers, paper_hw, "topo", cache_dir=tmp_path, progress=False)
    assert status.startswith("built and cached at")
    (path,) = tmp_path.glob("lut-*.json")
    again, status = cached_lut(layers, paper_hw, "topo", cache_dir=tmp_path, progress=False)
    assert status.startswith("cache hit") and again == doc

    path.write_text(path.read_text()[:100])  # truncated file
    rebuilt, status = cached_lut(layers, paper_hw, "topo", cache_dir=tmp_path, progress=False)
    assert "corrupted: not valid JSON" in status and rebuilt == doc

    tampered = json.loads(path.read_text())
    tampered["layers"][0]["latency_cycles"]["w8a8"] += 1
    path.write_text(json.dumps(tampered))
    rebuilt, status = cached_lut(layers, paper_hw, "topo", cache_dir=tmp_path, progress=False)
    assert "checksum does not match" in status and rebuilt == doc

    stale = dict(doc, tool_version="0.0.1")
    path.write_text(json.dumps(stale))
    rebuilt, status = cached_lut(layers, paper_hw, "topo", cache_dir=tmp_path, progress=False)
    assert "stale" in status and rebuilt == doc
    assert list(tmp_path.iterdir()) == [path]  # written atomically: no temporary files left


def test_key_depends_on_layers_and_hardware(layers, paper_hw):
    import dataclasses

    base = lut_key(layers, paper_hw)
    assert lut_key(layers[:-1], paper_hw) != base
    assert lut_key(layers, dataclasses.replace(paper_hw, dram_gb_per_s=1.0)) != base
    assert lut_key(layers, dataclasses.replace(paper_hw, name="renamed")) == base
    assert check_lut({"format": "hwsim-lut/1"}, base).startswith("stale")


def test_cli_writes_json_and_table(tmp_path, capsys):
    out = tmp_path / "lut.json"
    args = ["lut", "--hw", str(CONFIGS / "cortex_a53_rpi3b.yaml"), "--topology", str(TOPO), "--quiet",
            "--cache-dir", str(tmp_path / "cache")]
    assert main(args + ["-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["format"] == "hwsim-lut/2" and doc["hardware"]["kind"] == "arm" and len(doc["layers"]) == 5
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "cache hit" in captured.err
    assert captured.out.splitlines()[1].split()[:3] == ["layer", "w2a2", "w2a4"]


def test_cli_bad_config_exits_2(tmp_path, capsys):
    bad = tmp_path / "hw.yaml"
    bad.write_text((CONFIGS / "cortex_a53_rpi3b.yaml").read_text().replace("cores: 4", "cores: four"))
    out = tmp_path / "lut.json"
    assert main(["lut", "--hw", str(bad), "--topology", str(TOPO), "-o", str(out)]) == 2
    assert f"{bad}: field 'cores': got 'four'; allowed: an integer from 1 to 1024" in capsys.readouterr().err
    assert not out.exists()
