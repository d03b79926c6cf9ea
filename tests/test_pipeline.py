"""The end-to-end pipeline, on the demo's own run (conftest.demo_run: `hwsim pipeline` at every default, once per
session; tests/test_readme_demo.py checks its table): its report agrees with its own numbers, its chosen configs are
usable as bits files, a rerun resumes from its cache, another sensitivity method feeds the same search, and bad
input fails fast."""

import json

import pytest

from hwsim.codesign.pipeline import ALL_CHOICES, PipelineConfig, gap_budgets, run_pipeline
from hwsim.codesign.report import summary_line
from hwsim.cli import main
from hwsim.errors import ConfigError, HwsimError
from hwsim.precision import parse_label

from conftest import CONFIGS

pytestmark = pytest.mark.slow  # the demo's whole pipeline: make test-fast skips them

HW = (str(CONFIGS / "bitfusion_16x32.yaml"), str(CONFIGS / "cortex_a53_rpi3b.yaml"))  # the demo's targets


def _untimed(doc):
    if isinstance(doc, dict):
        return {k: _untimed(v) for k, v in doc.items() if not (k == "seconds" or k.endswith("_seconds"))}
    if isinstance(doc, list):
        return [_untimed(v) for v in doc]
    return doc


@pytest.fixture
def demo(demo_run, monkeypatch):
    """(config, results, folder) of the demo's run; this process reads the same cache the run wrote."""
    monkeypatch.setenv("HWSIM_CACHE_DIR", str(demo_run.parent / "cache"))
    results = json.loads((demo_run / "results.json").read_text())
    return PipelineConfig(out=str(demo_run)), results, demo_run


def test_results_document_has_what_a_user_acts_on(demo):
    _, results, _ = demo
    assert results["format"] == "hwsim-pipeline/2" and results["choices"] == list(ALL_CHOICES)
    assert 80 < results["fp_accuracy"] < 100  # percent
    assert set(results["pinned"]) == {"conv1", "fc"}
    for t in results["targets"]:
        assert sorted((u["w_bits"], u["a_bits"]) for u in t["uniform"]) == [(w, a) for w in (2, 4, 8) for a in (2, 4, 8)]
        assert all(0 <= u["accuracy"] <= 100 and u["latency_ms"] > 0 for u in t["uniform"])
        assert 1 <= len(t["configs"]) <= 3 and isinstance(t["mixed_earns_place"], bool)
        for c in t["configs"]:
            assert set(c["assignment"]) == set(results["layers"])
            assert c["assignment"]["conv1"] == {"w": 8, "a": 8} and c["bit_changes"] == []
            assert c["feasible"] and c["predicted_ms"] <= c["budget_ms"] * (1 + 1e-9)
            assert abs(c["latency_error_pct"]) < 2.0
            assert c["exact_loss"] <= c["predicted_loss"] + 1e-12 and c["ga_gap_pct"] >= -1e-9
            assert c["predicted_loss"] >= 0 and 0 <= c["accuracy"] <= 100
            rival = c["best_uniform_no_slower"]
            assert c["earns_place"] == (rival is None or c["accuracy"] >= rival["accuracy"] + 0.5)


def test_the_demos_sensitivities_are_held_out_nonnegative_monotone_with_intervals(demo, data):
    """The BRECQ table the demo's search read (from its cache): every entry measured on the held-out split with an
    interval, never negative, monotone in both bit-widths; pair terms only where they exceed their noise."""
    _, results, out = demo
    [path] = [p for p in (out / "cache").glob("sensitivity-*.json")]
    t = json.loads(path.read_text())["value"]
    assert t["holdout"] == len(data.holdout_y) == results["sensitivity"]["holdout"]
    assert t["pinned"] == {"conv1": "w8a8", "fc": "w8a8"}
    assert len(t["layers"]) == 14 and "conv1" not in t["layers"]
    dominated = [(c, d) for c in ALL_CHOICES for d in ALL_CHOICES if c != d and
                 all(x <= y for x, y in zip(parse_label(c), parse_label(d)))]  # c has no more bits than d
    for n, row in t["layers"].items():
        assert min(row.values()) >= 0
        assert all(row[c] >= row[d] for c, d in dominated), (n, row)
        assert all(t["ci95"][n][c] > 0 for c in row)
    proj = t["projection"]
    assert proj["moved"] >= proj["negative"]
    for p in t["pairs"]:
        assert abs(p["sensitivity"]) > p["ci95"] or p["sensitivity"] < 0  # kept only when it exceeds its noise
        k = sum(1 for b in t["blocks"].values() if b == t["blocks"][p["a"]])
        assert p["sensitivity"] >= -(t["layers"][p["a"]]["w2a2"] + t["layers"][p["b"]]["w2a2"]) / (2 * (k - 1)) - 1e-12
    assert len(t["pairs"]) + t["pairs_dropped"] == 10
    assert sorted(map(sorted, t["act_groups"])) == [["layer2.0.conv1", "layer2.0.downsample.0"],
                                                     ["layer3.0.conv1", "layer3.0.downsample.0"]]
    # the held-out split is disjoint from the calibration images
    flat = lambda x: {tuple(r.flatten().tolist()) for r in x}  # noqa: E731
    assert not flat(data.holdout_x) & flat(data.calib_x)


def test_budgets_sit_in_the_gaps_of_the_uniform_front():
    uniform = [{"w_bits": 2, "a_bits": 2, "predicted_ms": 1.0, "accuracy": 70.0},
               {"w_bits": 4, "a_bits": 4, "predicted_ms": 2.0, "accuracy": 80.0},
               {"w_bits": 4, "a_bits": 8, "predicted_ms": 2.5, "accuracy": 79.0},  # dominated: not on the front
               {"w_bits": 8, "a_bits": 8, "predicted_ms": 4.0, "accuracy": 81.0}]
    assert gap_budgets(uniform, 5) == [("between w2a2 and w4a4", 1.5), ("between w4a4 and w8a8", 3.0)]
    assert len(gap_budgets(uniform, 1)) == 1


def test_integer_execution_matches_fake_quantization(demo):
    _, results, _ = demo
    for t in results["targets"]:
        for c in t["configs"]:
            ic = c["integer"]
            assert ic["passed"] and ic["overflows"] == 0 and ic["top1_agreement"] >= 0.995
            assert ic["accumulator_bits_needed"] <= 32 and ic["samples"] == 2872


def test_report_files_and_summary(demo):
    _, results, out = demo
    for name in ("report.md", "report.html", "summary.md", "pareto.csv", "results.json", "bitwidths.png",
                 "pareto_bitfusion_16x32.png", "pareto_cortex_a53_rpi3b.svg"):
        assert (out / name).exists(), name
    assert "data:image/png;base64," in (out / "report.html").read_text()
    n = sum(len(t["configs"]) for t in results["targets"])
    assert f"integer check passed ({n}/{n})" in summary_line(results)
    report = (out / "report.md").read_text()
    assert "Per-layer bits (w/a)" in report and "`conv1` (first layer" in report
    import csv

    rows = list(csv.DictReader((out / "pareto.csv").open()))
    assert len(rows) == len(ALL_CHOICES) * 2 + n and [r["kind"] for r in rows].count("mixed") == n
    mixed = [r for r in rows if r["kind"] == "mixed"]
    assert all(json.loads(r["assignment"])["conv1"] == "w8a8" for r in mixed)
    # no temporary files left; the folder's lock file stays (removing it on release would let two runs in)
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [".hwsim.lock"]


def test_chosen_configs_are_bits_files_simulate_and_quantize_accept(demo, tmp_path, capsys):
    _, results, out = demo
    c = results["targets"][0]["configs"][0]
    bits = out / c["bits_file"]
    assert main(["simulate", "--hw", HW[0], "--model", "digits-resnet", "--bits", str(bits), "--whole-network",
                 "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert sum(r["latency_ms"] for r in doc["layers"]) == pytest.approx(c["simulated_ms"], rel=1e-9)
    assert main(["quantize", "--bits", str(bits), "--iters", "10", "--quiet", "-o", str(tmp_path / "q")]) == 0
    summary = json.loads((tmp_path / "q" / "summary.json").read_text())
    assert summary["bit_changes"] == []
    assert summary["bits"] == {n: f"w{b['w']}a{b['a']}" for n, b in c["assignment"].items()}


def test_rerun_resumes_from_the_cache(demo):
    """In this process, under the pinned kernels but not the run's environment: every step is a cache hit."""
    cfg, results, out = demo
    cached = sorted(p.name for p in (out / "cache").iterdir())
    again = run_pipeline(cfg, progress=False)
    assert _untimed(again) == _untimed(results)
    assert sorted(p.name for p in (out / "cache").iterdir()) == cached


def test_bad_input_fails_fast_with_a_message(tmp_path, capsys):
    with pytest.raises(HwsimError, match="budget 1.5 is not a fraction"):
        run_pipeline(PipelineConfig(budgets=(1.5,), out=str(tmp_path)), progress=False)
    with pytest.raises(ConfigError, match="hardware config file not found"):
        run_pipeline(PipelineConfig(hw=("nope.yaml",), out=str(tmp_path)), progress=False)
    with pytest.raises(HwsimError, match="bit label 'w3' is not of the form"):
        run_pipeline(PipelineConfig(choices=("w3",), out=str(tmp_path)), progress=False)
    assert main(["pipeline", "--model", "vgg99", "--out", str(tmp_path / "x")]) == 2
    assert "unknown model 'vgg99'; allowed: " in capsys.readouterr().err
    assert main(["pipeline", "--model", "resnet18", "--out", str(tmp_path / "x")]) == 2
    assert "needs --data DIR" in capsys.readouterr().err
    assert not (tmp_path / "x" / "results.json").exists()


def test_another_sensitivity_method_feeds_the_same_search_and_validation(demo, tmp_path):
    """--sensitivity-method first_order (one target, one budget): the search reads that table; the demo's uniform
    reconstructions (cached) still give the uniform rows; the pick is validated the same way."""
    import dataclasses
    import shutil

    cfg, results, out = demo
    shutil.copytree(out / "cache", tmp_path / "cache")
    other = run_pipeline(dataclasses.replace(cfg, hw=HW[:1], gaps=1, out=str(tmp_path), sensitivity_method="first_order",
                                             sensitivity_options=(("k", 0.001),)), progress=False)
    assert other["sensitivity"]["method"] == "first_order" and results["sensitivity"]["method"] == "brecq"
    mine, theirs = other["targets"][0], results["targets"][0]
    assert mine["uniform"] == theirs["uniform"] and len(mine["configs"]) == 1
    for c in mine["configs"]:
        assert c["feasible"] and c["predicted_ms"] <= c["budget_ms"] * (1 + 1e-9) and 0 <= c["accuracy"] <= 100
        assert c["integer"]["passed"]
    assert main(["pipeline", "--sensitivity-method", "nope", "--out", str(tmp_path / "x")]) == 2
    with pytest.raises(HwsimError, match="pnmq quantizes weights only"):  # refused before any long step
        run_pipeline(PipelineConfig(sensitivity_method="pnmq", out=str(tmp_path / "y")), progress=False)
