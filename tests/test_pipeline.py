"""The end-to-end pipeline on a tiny setting: its report is consistent with its own numbers."""

import json

import pytest

from codesign.pipeline import PipelineConfig, run_pipeline
from codesign.report import summary_line, write_report
from hwsim.cli import main
from hwsim.errors import ConfigError, HwsimError

from conftest import CONFIGS


@pytest.fixture(scope="module")
def tiny(model, cache_dir, tmp_path_factory):
    import os

    os.environ["HWSIM_CACHE_DIR"] = str(cache_dir)  # reuse the session's trained digits model
    out = tmp_path_factory.mktemp("pipeline")
    cfg = PipelineConfig(hw=(str(CONFIGS / "bitfusion_16x32.yaml"), str(CONFIGS / "cortex_a53_rpi3b.yaml")),
                         budgets=(0.3, 0.7), iters=10, out=str(out))
    results = run_pipeline(cfg, progress=False)
    files = write_report(results, out)
    return cfg, results, files, out


def test_configs_meet_budgets_and_latency_agrees(tiny):
    _, results, _, _ = tiny
    assert [t["hardware"] for t in results["targets"]] == ["bitfusion_16x32", "cortex_a53_rpi3b"]
    for t in results["targets"]:
        assert len(t["configs"]) == 2 and len(t["uniform"]) == 3
        for c in t["configs"]:
            assert c["feasible"] and c["predicted_ms"] <= c["budget_ms"] * (1 + 1e-9)
            assert abs(c["latency_error_pct"]) < 2.0  # the README's stated bound for table sums
            assert c["ga_gap_pct"] < 1.0 + 1e-9 or c["exact_loss"] <= c["predicted_loss"]
            assert 0.0 <= c["accuracy"] <= 1.0
        budgets = [c["budget_ms"] for c in t["configs"]]
        assert budgets == sorted(budgets)


def test_integer_execution_matches_fake_quantization(tiny):
    _, results, _, _ = tiny
    for t in results["targets"]:
        for c in t["configs"]:
            ic = c["integer"]
            assert ic["passed"] and ic["overflows"] == 0 and ic["top1_agreement"] >= 0.995
            assert ic["accumulator_bits_needed"] <= 32 and ic["samples"] == 2872


def test_report_files_and_summary(tiny):
    _, results, files, out = tiny
    assert results["fp_accuracy"] > 0.8
    for name in ("report.md", "report.html", "results.json", "bitwidths.png", "pareto_bitfusion_16x32.png",
                 "pareto_cortex_a53_rpi3b.svg"):
        assert (out / name).exists(), name
    assert json.loads((out / "results.json").read_text())["targets"] == results["targets"]
    assert "data:image/png;base64," in (out / "report.html").read_text()
    assert "integer check passed (4/4)" in summary_line(results)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_rerun_resumes_from_the_cache(tiny):
    cfg, results, _, out = tiny
    cached = sorted(p.name for p in (out / "cache").iterdir())
    again = run_pipeline(cfg, progress=False)
    untimed = lambda r: [{**t, "configs": [{k: v for k, v in c.items() if k != "ga_seconds"} for c in t["configs"]]}
                         for t in r["targets"]]
    assert untimed(again) == untimed(results)
    assert sorted(p.name for p in (out / "cache").iterdir()) == cached


def test_bad_input_fails_fast_with_a_message(tmp_path, capsys):
    with pytest.raises(HwsimError, match="budget 1.5 is not a fraction"):
        run_pipeline(PipelineConfig(budgets=(1.5,), out=str(tmp_path)), progress=False)
    with pytest.raises(ConfigError, match="hardware config file not found"):
        run_pipeline(PipelineConfig(hw=("nope.yaml",), out=str(tmp_path)), progress=False)
    assert main(["pipeline", "--model", "vgg99", "--out", str(tmp_path / "x")]) == 2
    assert "needs --data DIR" in capsys.readouterr().err
    assert not (tmp_path / "x" / "results.json").exists()
