"""`hwsim codesign`: the joint chip x bits search never loses to the fixed chip, respects its budgets, validates."""

import json

import pytest
import yaml

from hwsim.config import load_config
from hwsim.cli import main

from conftest import CONFIGS

SPACE = """\
base: {base}
axes:
  array.rows: [8, 16]
  array.cols: [16, 32, 64]
  sram_kib.ifmap: [16, 32]
"""


@pytest.fixture(scope="module")
def sens_file(tmp_path_factory):
    """A sensitivity table for the embedded digits model: loss falls with bits, activations weigh double."""
    from hwsim.workload import layers_from_module
    from hwsim.quant.digits_model import default_digits_model

    names = [layer.name for layer in layers_from_module(default_digits_model(), (1, 1, 16, 16))]
    pinned = {names[0]: "w8a8", names[-1]: "w8a8"}
    choices = [f"w{w}a{a}" for w in (2, 4, 8) for a in (2, 4, 8)]
    table = {n: {c: 0.01 * (8 - int(c[1])) + 0.02 * (8 - int(c[3])) for c in choices}
             for n in names if n not in pinned}
    doc = {"format": "hwsim-sensitivity/2", "model": "digits-resnet", "choices": choices,
           "policy": "first-last-8bit", "pinned": pinned, "act_groups": [], "layers": table, "pairs": []}
    path = tmp_path_factory.mktemp("sens") / "sens.json"
    path.write_text(json.dumps(doc))
    return path


def _run(tmp_path, sens_file, *extra):
    tmp_path.mkdir(parents=True, exist_ok=True)
    space = tmp_path / "space.yaml"
    space.write_text(SPACE.format(base=CONFIGS / "bitfusion_16x32.yaml"))
    out = tmp_path / "out"
    code = main(["codesign", "--hw-space", str(space), "--sensitivity", str(sens_file), "--out", str(out),
                 "--jobs", "2", "--quiet", *extra])
    return code, out


@pytest.mark.slow
def test_joint_search_beats_or_ties_the_fixed_chip_within_its_area(tmp_path, capsys, sens_file):
    base_area = load_config(CONFIGS / "bitfusion_16x32.yaml").area_mm2()
    code, out = _run(tmp_path, sens_file, "--area-mm2", f"{base_area:.6f}", "--latency-ms", "0.0043",
                     "--no-validate")
    assert code == 0
    doc = json.loads((out / "codesign.json").read_text())
    assert doc["points"] == 12 and doc["format"] == "hwsim-codesign/1"
    feasible = [c for c in doc["candidates"] if c["feasible"]]
    assert all(c["area_mm2"] <= base_area + 1e-9 and c["predicted_ms"] <= 0.0043 * (1 + 1e-9) for c in feasible)
    best, base = doc["best"], doc["baseline"]
    assert best == feasible[0] and best["predicted_loss"] == min(c["predicted_loss"] for c in feasible)
    # the base chip (16 x 32, ifmap 32 KiB) is a point of the space, so the joint answer is never worse
    assert base["feasible"] and best["predicted_loss"] <= base["predicted_loss"] + 1e-12
    assert abs(best["simulated_ms"] / best["predicted_ms"] - 1) < 0.03  # the table sum vs the whole network
    hw = load_config(out / "best_hw.yaml")
    assert hw.rows == best["values"]["array.rows"] and hw.cols == best["values"]["array.cols"]
    assert main(["simulate", "--hw", str(out / "best_hw.yaml"), "--model", "digits-resnet", "--bits",
                 str(out / "best_bits.yaml"), "--whole-network", "--format", "json"]) == 0
    stdout = capsys.readouterr().out
    assert "chips meet the budgets" in stdout and "fixed hardware (bitfusion_16x32" in stdout


@pytest.mark.slow
def test_validation_quantizes_and_runs_the_best_pair_in_integers(tmp_path, capsys, sens_file):
    code, out = _run(tmp_path, sens_file, "--area-mm2", "2.6", "--latency-ms", "0.0045", "--iters", "10")
    assert code == 0
    doc = json.loads((out / "codesign.json").read_text())
    best, base = doc["best"], doc["baseline"]
    # 10 reconstruction iterations: the accuracy is low but above chance (10 classes), and the integer model
    # agrees with the fake-quantized one
    for rec in (best, base):
        assert rec["integer"]["passed"] and rec["integer"]["top1_agreement"] >= 0.995 and rec["accuracy"] > 10
    assert "validated best pair: top-1" in capsys.readouterr().out


@pytest.mark.parametrize("args,expected", [
    (["--latency-ms", "0.004"], "give a hardware budget: --area-mm2"),
    (["--latency-ms", "-1", "--area-mm2", "2"], "argument --latency-ms: expected a number above 0"),
    (["--latency-ms", "0.000001", "--area-mm2", "2"], "no chip of the space meets the budgets"),
    (["--latency-ms", "0.004", "--area-mm2", "0.01"], "no chip of the space meets the budgets"),
])
def test_bad_budgets_one_line_exit_2(tmp_path, capsys, sens_file, args, expected):
    code, _ = _run(tmp_path, sens_file, "--no-validate", *args)
    err = capsys.readouterr().err
    assert code == 2 and expected in err and err.count("\n") == 1, err


def test_a_space_with_a_workload_or_an_arm_base_is_refused(tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text(f"base: {CONFIGS / 'bitfusion_16x32.yaml'}\nmodels: [resnet18]\n")
    assert main(["codesign", "--hw-space", str(space), "--latency-ms", "1", "--area-mm2", "2"]) == 2
    assert "models: a hardware space has no workload field" in capsys.readouterr().err
    space.write_text(yaml.safe_dump({"base": str(CONFIGS / "cortex_a53_rpi3b.yaml"), "axes": {"threads": [1, 2]}}))
    assert main(["codesign", "--hw-space", str(space), "--latency-ms", "1", "--area-mm2", "2"]) == 2
    assert "needs a systolic base" in capsys.readouterr().err


@pytest.mark.slow
def test_nsga2_outer_never_beats_every_chip_and_finds_it_on_a_small_space(tmp_path, sens_file):
    """NSGA-II visits a subset of the chips, so its best is never better than the exhaustive best; on 12 chips
    with 6 x 6 evaluations it finds that best.  Pareto marks: non-dominated in loss, area and energy."""
    budgets = ["--area-mm2", "2.6", "--latency-ms", "0.0045", "--no-validate"]
    code, out = _run(tmp_path / "all", sens_file, *budgets)
    assert code == 0
    every = json.loads((out / "codesign.json").read_text())
    code, out = _run(tmp_path / "ga", sens_file, *budgets, "--outer", "nsga2", "--population", "6",
                     "--generations", "6")
    assert code == 0
    ga = json.loads((out / "codesign.json").read_text())
    assert ga["outer"] == "nsga2" and ga["searched"] <= 12
    assert ga["best"]["predicted_loss"] >= every["best"]["predicted_loss"] - 1e-12
    assert ga["best"]["predicted_loss"] == pytest.approx(every["best"]["predicted_loss"], abs=1e-12)
    feasible = [c for c in every["candidates"] if c["feasible"]]
    key = lambda c: (c["predicted_loss"], c["area_mm2"], c["energy_uj"])  # noqa: E731
    for c in feasible:
        dominated = any(all(x <= y for x, y in zip(key(d), key(c))) and key(d) != key(c) for d in feasible)
        assert c["pareto"] == (not dominated or any(key(d) == key(c) and d["pareto"] for d in feasible if d is not c))
    assert every["best"]["pareto"]


@pytest.mark.slow
def test_an_energy_budget_steers_each_chips_bit_search(tmp_path, sens_file):
    """With --energy-uj the MILP picks bits within it: a chip whose latency-only pick spends more energy than
    the budget is still feasible, with other bits; every pick is within the budget as a whole network; a chip
    whose latency-only pick fits keeps it (never worse than filtering)."""
    budgets = ["--area-mm2", "2.6", "--latency-ms", "0.0045", "--no-validate"]
    code, out = _run(tmp_path / "free", sens_file, *budgets)
    assert code == 0
    free = {c["index"]: c for c in json.loads((out / "codesign.json").read_text())["candidates"] if c["feasible"]}
    energies = sorted(c["energy_uj"] for c in free.values())
    limit = energies[len(energies) // 2] * 0.98
    code, out = _run(tmp_path / "capped", sens_file, *budgets, "--energy-uj", f"{limit:.6f}")
    assert code == 0
    capped = [c for c in json.loads((out / "codesign.json").read_text())["candidates"] if c["feasible"]]
    assert capped and all(c["energy_uj"] <= limit for c in capped)
    steered = [c for c in capped if free[c["index"]]["energy_uj"] > limit]
    assert steered and all(c["predicted_loss"] >= free[c["index"]]["predicted_loss"] - 1e-12 for c in steered)
    kept = [c for c in capped if free[c["index"]]["energy_uj"] <= limit]
    assert kept and all(c["assignment"] == free[c["index"]]["assignment"] for c in kept)
    assert len(capped) >= sum(1 for c in free.values() if c["energy_uj"] <= limit)


@pytest.mark.slow
def test_codesign_measures_another_sensitivity_method(tmp_path, capsys):
    """--sensitivity-method pnmq: the weight-only table (w2/w4/w8 at a8) is measured and cached, and the
    search on every chip reads it (activation bits stay 8)."""
    space = tmp_path / "space.yaml"
    space.write_text(SPACE.format(base=CONFIGS / "bitfusion_16x32.yaml"))
    out = tmp_path / "out"
    assert main(["codesign", "--hw-space", str(space), "--sensitivity-method", "pnmq", "--area-mm2", "2.6",
                 "--latency-ms", "0.01", "--no-validate", "--jobs", "2", "--out", str(out), "--quiet"]) == 0
    doc = json.loads((out / "codesign.json").read_text())
    assert doc["best"]["feasible"] and set(doc["best"]["assignment"].values()) <= {"w2a8", "w4a8", "w8a8"}
    assert len(list((out / "cache").glob("sensitivity-*.json"))) == 1
