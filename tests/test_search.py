"""Search: objective/cost evaluation, the exact solver against brute force, the GA's feasibility and
gap, hardware-oracle mode, builders, Pareto output, and errors on malformed problems."""

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.cli import main
from hwsim.errors import HwsimError
from hwsim.search.exact import solve_exact
from hwsim.search.ga import GAConfig, solve_ga
from hwsim.search.problem import load_problem, problem_from_dict
from hwsim.search.random_problems import paper_like, pipeline_like

from conftest import EXAMPLE_PROBLEM

DOC = EXAMPLE_PROBLEM


def brute_force(problem):
    best = None
    for genes in itertools.product(range(len(problem.choices)), repeat=problem.n_layers):
        obj, cost = problem.evaluate(np.array(genes))
        if cost[0] <= problem.budget and (best is None or obj[0] < best[0]):
            best = (obj[0], genes)
    return best


def test_objective_and_cost():
    p = problem_from_dict(DOC)
    obj, cost = p.evaluate(np.array([[0, 0], [1, 2], [2, 0]]))
    assert obj == pytest.approx([0.9 + 0.3 + 0.25, 0.05 + 0.0, 0.001 + 0.3])  # pair only when both at w2a8
    assert cost == pytest.approx([0.9, 1.8, 1.5])
    assert p.cheapest_cost() == pytest.approx(0.9)


@pytest.mark.parametrize("seed", range(4))
def test_exact_is_optimal_on_brute_forceable_instances(seed):
    p = paper_like(7, seed, budget_fraction=0.4)  # 3^7 = 2187 assignments
    sol = solve_exact(p)
    best_obj, _ = brute_force(p)
    assert sol.feasible and sol.objective == pytest.approx(best_obj, abs=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_ga_matches_exact_on_small_instances(seed):
    p = paper_like(8, seed)
    assert solve_ga(p, seed).objective == pytest.approx(solve_exact(p).objective, abs=1e-9)


@pytest.mark.parametrize("paper", [False, True])
def test_ga_answers_are_always_feasible(paper):
    for seed in range(3):
        p = paper_like(40, seed, budget_fraction=0.2)
        sol = solve_ga(p, seed, GAConfig(paper=paper))
        genes = p.genes_of(sol.assignment)
        obj, cost = p.evaluate(genes)
        assert sol.feasible and cost[0] <= p.budget and sol.cost == pytest.approx(cost[0])
        assert sol.objective == pytest.approx(obj[0])
        if paper:  # the paper's algorithm runs all its iterations; ours stops when the best stays put
            assert len(sol.details["history"]) == 100


@pytest.mark.slow
@settings(max_examples=80, deadline=None, derandomize=True)
@given(n_choices=st.sampled_from([3, 9]), n_layers=st.integers(2, 8), fraction=st.floats(0.0, 1.0),
       seed=st.integers(0, 10_000))
def test_ga_and_milp_equal_the_enumerated_optimum(n_choices, n_layers, fraction, seed):
    """Every assignment enumerated (at most 4^8 of them): both solvers find the optimum, GA never beats it."""
    if n_choices == 9:
        n_layers = min(n_layers, 5)  # 9^5 = 59,049 <= 4^8
    p = pipeline_like(n_layers, n_choices, fraction, seed)
    grid = np.array(list(itertools.product(range(n_choices), repeat=n_layers)))
    obj, cost = p.evaluate(grid)
    ok = (cost <= p.budget * (1 + 1e-12)) & _tied_rows(p, grid)
    best = obj[ok].min()
    exact, ga = solve_exact(p), solve_ga(p, seed)
    assert exact.feasible and ga.feasible
    assert exact.objective == pytest.approx(best, abs=1e-9)
    assert ga.objective == pytest.approx(best, abs=1e-9)


def test_ga_is_reproducible_from_its_seed():
    p = paper_like(30, 3)
    assert solve_ga(p, 7).assignment == solve_ga(p, 7).assignment


def test_oracle_mode_respects_a_non_additive_budget():
    p = paper_like(12, 1, budget_fraction=0.6)
    calls = []

    def oracle(assignment):  # a whole-network model: 5% extra when more than half the layers are 2-bit
        calls.append(1)
        genes = p.genes_of(assignment)
        cost = p.evaluate(genes)[1][0]
        return cost * (1.05 if (genes == 0).sum() > p.n_layers / 2 else 1.0)

    sol = solve_ga(p, 0, oracle=oracle)
    assert sol.feasible and oracle(sol.assignment) <= p.budget and sol.cost == pytest.approx(oracle(sol.assignment))
    assert sol.details["oracle_calls"] > 0


def test_infeasible_budget_names_the_cheapest_cost():
    p = problem_from_dict({**DOC, "budget": 0.5})
    for solve in (lambda: solve_exact(p), lambda: solve_ga(p)):
        with pytest.raises(HwsimError, match="budget 0.5 is infeasible: the cheapest assignment costs 0.9"):
            solve()


@pytest.mark.parametrize("change,message", [
    ({"budget": "x"}, "field 'budget': got 'x'"),
    ({"choices": ["w2", "w8a8"]}, "field 'choices'"),
    ({"extra": 1}, "field 'extra'"),
    ({"layers": []}, "field 'layers'"),
    ({"pairs": [{"a": "a", "b": "zz", "choice_a": "w2a8", "choice_b": "w2a8", "sensitivity": 1}]},
     "field 'pairs[0].b': got 'zz'; allowed: the name of a layer"),
    ({"layers": [{"name": "a", "cost": {"w2a8": 1}, "sensitivity": {}}]}, "field 'layers[0].cost'"),
    ({"layers": [{"name": "a", "cost": {"w2a8": -1, "w4a8": 1, "w8a8": 1},
                  "sensitivity": {"w2a8": 0, "w4a8": 0, "w8a8": 0}}]}, "field 'layers[0].cost.w2a8': got -1"),
])
def test_malformed_problems_name_the_field(change, message):
    with pytest.raises(HwsimError, match=message.replace("(", r"\(").replace("[", r"\[").replace("]", r"\]")):
        problem_from_dict({**DOC, **change}, "P.json")


def test_cli_search_and_pareto(tmp_path, capsys):
    problem = tmp_path / "P.json"
    problem.write_text(json.dumps(paper_like(20, 0).to_json()))
    for solver in ("ga", "exact"):
        out = tmp_path / f"R_{solver}.json"
        assert main(["search", "--problem", str(problem), "--solver", solver, "-o", str(out)]) == 0
        r = json.loads(out.read_text())
        assert {"assignment", "objective", "cost", "feasible", "seconds"} <= set(r) and r["feasible"]
    assert load_problem(problem).n_layers == 20
    assert main(["pareto", "--problem", str(problem), "--points", "4", "-o", str(tmp_path / "pf")]) == 0
    rows = (tmp_path / "pf" / "pareto.csv").read_text().splitlines()
    assert rows[0] == "kind,budget,cost,objective,label" and len(rows) == 1 + 4 + 3
    assert (tmp_path / "pf" / "pareto.png").stat().st_size > 10_000 and (tmp_path / "pf" / "pareto.svg").exists()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**DOC, "budget": 0.1}))
    assert main(["search", "--problem", str(bad), "-o", str(tmp_path / "R.json")]) == 2
    assert "infeasible: the cheapest assignment costs 0.9" in capsys.readouterr().err
    bad.write_text("{not json")
    assert main(["search", "--problem", str(bad), "-o", str(tmp_path / "R.json")]) == 2


def test_problem_from_tables(tmp_path):
    from hwsim.search.build import problem_from_tables

    lut = {"format": "hwsim-lut/2", "choices": ["w2a8", "w8a8"],
           "layers": [{"name": "a", "latency_ms": {"w2a8": 1.0, "w8a8": 3.0}, "weight_bytes": {"w2a8": 10, "w8a8": 40}},
                      {"name": "b", "latency_ms": {"w2a8": 2.0, "w8a8": 4.0}, "weight_bytes": {"w2a8": 5, "w8a8": 20}}]}
    sens = {"format": "hwsim-sensitivity/2", "choices": ["w2a8", "w4a8", "w8a8"],
            "layers": {"a": {"w2a8": 1, "w4a8": 0.1, "w8a8": 0}, "b": {"w2a8": 2, "w4a8": 0.2, "w8a8": 0}},
            "blocks": {"a": "blk", "b": "blk"},
            "pairs": [{"a": "a", "b": "b", "choice_a": "w2a8", "choice_b": "w2a8", "sensitivity": 0.5}]}
    p = problem_from_tables(lut, sens, 0.25)
    assert p.choices == ["w2a8", "w8a8"] and p.budget == pytest.approx(3.0 + 0.25 * 4.0) and p.cost_unit == "ms"
    assert problem_from_tables(lut, sens, 30, "bytes", "size").budget == 30
    assert len(p.pair_s) == 1
    with pytest.raises(HwsimError, match="not in the lookup table"):
        problem_from_tables({**lut, "layers": lut["layers"][:1]}, sens, 0.5)
    with pytest.raises(HwsimError, match="a latency budget is in ms or a fraction, not bytes"):
        problem_from_tables(lut, sens, 5, "bytes")
    # a layer the policy pins is outside the search, but its cost is in every assignment and in the budget
    stem = {"name": "stem", "latency_ms": {"w2a8": 0.5, "w8a8": 2.0}, "weight_bytes": {"w2a8": 1, "w8a8": 4}}
    pinned = problem_from_tables({**lut, "layers": [stem] + lut["layers"]}, {**sens, "pinned": {"stem": "w8a8"}}, 0.25)
    assert pinned.n_layers == 2 and pinned.fixed_cost == 2.0 and pinned.budget == pytest.approx(5.0 + 0.25 * 4.0)
    sol = solve_exact(pinned)
    assert sol.assignment["stem"] == "w8a8" and sol.cost == pytest.approx(2.0 + 1.0 + 2.0)
    assert problem_from_dict(pinned.to_json()).fixed == {"stem": "w8a8"}
    with pytest.raises(HwsimError, match="layer 'stem' of the lookup table has no sensitivity"):
        problem_from_tables({**lut, "layers": [stem] + lut["layers"]}, sens, 0.25)


def _tied_problem(seed, n_layers=6, budget_fraction=0.4):
    """Nine (w, a) choices, layers 1-2 and 3-4 reading one tensor each."""
    rng = np.random.default_rng(seed)
    choices = [f"w{w}a{a}" for w in (2, 4, 8) for a in (2, 4, 8)]
    layers = []
    for i in range(n_layers):
        base, s = rng.uniform(0.2, 2.0), rng.lognormal(-1, 1)
        layers.append({"name": f"l{i}", "cost": {c: base * (int(c[1]) + int(c[3])) / 16 for c in choices},
                       "sensitivity": {c: s * (8 / int(c[1]) - 1 + rng.uniform(0.5, 1.5) * (8 / int(c[3]) - 1))
                                       for c in choices}})
    doc = {"choices": choices, "budget": 0.0, "layers": layers, "act_groups": [["l1", "l2"], ["l3", "l4"]]}
    p = problem_from_dict(doc)
    return p.with_budget(p.cheapest_cost() + budget_fraction * (p.dearest_cost() - p.cheapest_cost()))


def _tied(problem, genes):
    ab = problem.abits
    return all(len({ab[genes[i]] for i in g}) == 1 for g in problem.act_groups)


def _tied_rows(problem, grid):
    """:func:`_tied` of every row of ``grid`` at once."""
    ab = np.asarray(problem.abits)[grid]
    ok = np.ones(len(grid), dtype=bool)
    for g in problem.act_groups:
        ok &= (ab[:, list(g)] == ab[:, [g[0]]]).all(axis=1)
    return ok


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_activation_groups_share_bits_and_solvers_are_optimal(seed):
    p = _tied_problem(seed)  # 9^6 = 531,441 assignments
    grid = np.array(list(itertools.product(range(9), repeat=p.n_layers)))
    obj, cost = p.evaluate(grid)
    tied = _tied_rows(p, grid)
    assert all(tied[i] == _tied(p, grid[i]) for i in range(0, len(grid), 997))  # the vector form is the loop's
    ok = (cost <= p.budget) & tied
    best = obj[ok].min()
    exact, ga = solve_exact(p), solve_ga(p, seed)
    for sol in (exact, ga):
        assert sol.feasible and _tied(p, p.genes_of(sol.assignment))
    assert exact.objective == pytest.approx(best, abs=1e-9)
    assert ga.objective == pytest.approx(best, abs=1e-9)
    assert p.cheapest_cost() == pytest.approx(cost[tied].min())


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(st.data())
def test_units_tie_activation_bits_and_cover_every_tied_assignment(data):
    """The GA's unit view (search/units.py): every unit assignment is a tied layer assignment, and back."""
    from hwsim.search.units import build_units

    p = _tied_problem(0)
    units = build_units(p)
    for mem, joint in zip(units.members, units.joint):  # a group's joint choices: every tied combination once
        tied = [c for c in itertools.product(range(9), repeat=len(mem)) if len({p.abits[k] for k in c}) == 1]
        assert sorted(map(tuple, joint.tolist())) == sorted(tied)
    g = np.array([data.draw(st.integers(0, int(n) - 1)) for n in units.valid.sum(axis=1)])
    layer = units.layer_genes(g)[0]
    assert _tied(p, layer) and np.array_equal(units.unit_genes(layer)[0], g)
    obj, cost = units.evaluate(g)
    assert obj[0] == pytest.approx(p.evaluate(layer)[0][0]) and cost[0] + p.fixed_cost == pytest.approx(
        p.evaluate(layer)[1][0])


def _digits_problem(tmp_path, budget: str, seed: int) -> list[str]:
    """A problem file (tmp_path/P.json) from the digits model's real lookup table on the paper's accelerator
    and seeded synthetic losses; returns the layer names."""
    lut = tmp_path / "L.json"
    assert main(["lut", "--model", "digits-resnet", "--hw", DIGITS_HW, "--quiet", "-o", str(lut)]) == 0
    table = json.loads(lut.read_text())
    names = [row["name"] for row in table["layers"]]
    choices = table["choices"]
    rng = np.random.default_rng(seed)
    sens = {"format": "hwsim-sensitivity/2", "choices": choices, "policy": "first-last-8bit",
            "pinned": {names[0]: "w8a8", names[-1]: "w8a8"},
            "layers": {n: {c: float(rng.uniform(0.1, 1.0) * (8 / int(c[1]) + 8 / int(c[3]) - 2)) for c in choices}
                       for n in names[1:-1]}}
    (tmp_path / "S.json").write_text(json.dumps(sens))
    assert main(["problem", "--lut", str(lut), "--sensitivity", str(tmp_path / "S.json"), "--budget", budget,
                 "-o", str(tmp_path / "P.json")]) == 0
    return names


DIGITS_HW = "bitfusion_16x32"


@pytest.mark.slow
def test_search_to_bits_to_simulate_lut_and_quantize(model, cache_dir, tmp_path, monkeypatch, capsys):
    """search -> result file -> simulate, lut and quantize take it as their --bits, with no hand editing."""
    monkeypatch.setenv("HWSIM_CACHE_DIR", str(cache_dir))
    hw = DIGITS_HW
    names = _digits_problem(tmp_path, "0.3", 0)
    capsys.readouterr()
    result = tmp_path / "R.json"
    assert main(["search", "--problem", str(tmp_path / "P.json"), "-o", str(result)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["layer", "w", "a", "ms", "loss"]
    for n in names:  # every layer, the pinned ones marked fixed
        assert any(line.split()[0] == n for line in lines)
    assert "feasible" in lines[-1]
    doc = json.loads(result.read_text())
    assert set(doc["assignment"]) == set(names)
    assert main(["simulate", "--hw", hw, "--model", "digits-resnet", "--bits", str(result), "--format", "json"]) == 0
    sim = json.loads(capsys.readouterr().out)
    assert {r["name"]: f"w{r['wbits']}a{r['abits']}" for r in sim["layers"]} == doc["assignment"]
    assert main(["lut", "--model", "digits-resnet", "--hw", hw, "--bits", str(result), "--format", "json"]) == 0
    check = json.loads(capsys.readouterr().out)["additivity"][-1]
    assert check["config"] == "bits file R.json" and check["bits"] == doc["assignment"]
    assert check["lut_sum_ms"] == pytest.approx(doc["cost"], rel=1e-9)  # the search's cost is the table sum
    assert main(["quantize", "--bits", str(result), "--method", "rtn", "--quiet", "-o", str(tmp_path / "q")]) == 0
    assert json.loads((tmp_path / "q" / "summary.json").read_text())["bits"] == doc["assignment"]


def test_infeasible_budget_is_one_line_with_the_minimum(tmp_path, capsys):
    p = paper_like(10, 0).to_json()
    p["cost_unit"] = "ms"
    p["budget"] = 0.01
    (tmp_path / "P.json").write_text(json.dumps(p))
    assert main(["search", "--problem", str(tmp_path / "P.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    cheapest = problem_from_dict(p).cheapest_cost()
    assert len(err) == 1 and err[0].startswith("hwsim: error: budget 0.01 ms is infeasible")
    assert f"allowed: a budget of at least {cheapest:g} ms" in err[0]


@pytest.mark.slow
def test_nsga2_front_matches_the_exact_front():
    """Pareto set by NSGA-II: within budget, never better than the MILP at its own cost, hypervolume >= 99%."""
    from hwsim.search.multi import exact_front, hypervolume_ratio, pareto_nsga2

    p = pipeline_like(30, 9, 0.8, 5)
    front = pareto_nsga2(p, ["loss", "cost"], seed=1)
    ref = exact_front(p, "cost", points=30)
    assert np.all(front.points[:, 1] <= p.budget * (1 + 1e-12))
    assert hypervolume_ratio(front.points, ref.points) >= 0.99
    for k in np.linspace(0, len(front.points) - 1, 6).astype(int):  # the MILP at each point's cost is at least as good
        loss, cost = front.points[k]
        assert solve_exact(p.with_budget(cost)).objective <= loss + 1e-9
        genes = p.genes_of(front.assignments[k])
        assert p.evaluate(genes)[0][0] == pytest.approx(loss) and p.evaluate(genes)[1][0] == pytest.approx(cost)


def test_problem_metrics_round_trip_and_errors():
    p = pipeline_like(6, 3, 0.5, 0, energy=True)
    q = problem_from_dict(p.to_json())
    assert set(q.metrics) == {"energy"} and np.allclose(q.metrics["energy"], p.metrics["energy"])
    genes = np.zeros(6, dtype=np.int64)
    assert q.measure(genes, "energy")[0] == pytest.approx(p.metrics["energy"][:, 0].sum())
    doc = p.to_json()
    doc["layers"][1]["metrics"] = {"power": doc["layers"][1]["metrics"]["energy"]}
    with pytest.raises(HwsimError, match=r"field 'layers\[1\].metrics'"):
        problem_from_dict(doc)


def test_cli_multi_objective_search(tmp_path, capsys):
    p = pipeline_like(12, 3, 1.0, 2, energy=True)
    (tmp_path / "P.json").write_text(json.dumps(p.to_json()))
    out = tmp_path / "F.json"
    assert main(["search", "--problem", str(tmp_path / "P.json"), "--objectives", "loss,cost,energy", "-o",
                 str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["#", "loss", "cost", "energy"] and "non-dominated points" in lines[-1]
    doc = json.loads(out.read_text())
    assert doc["objectives"] == ["loss", "cost", "energy"] and len(doc["front"]) == len(lines) - 3
    point = doc["front"][0]
    assert p.measure(p.genes_of(point["assignment"]), "energy")[0] == pytest.approx(point["objectives"]["energy"])
    assert main(["search", "--problem", str(tmp_path / "P.json"), "--objectives", "loss,power"]) == 2
    assert "allowed two or more distinct of loss, cost, energy" in capsys.readouterr().err
    assert main(["search", "--problem", str(tmp_path / "P.json"), "--solver", "exact", "--objectives",
                 "loss,energy", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["solver"].startswith("exact")


def test_resimulated_search_prices_candidates_by_the_whole_network(model, cache_dir, tmp_path, monkeypatch, capsys):
    """--resimulate: the budget holds on the re-simulated latency, the table's error is reported."""
    from hwsim.config import load_config
    from hwsim.targets import simulate_network

    monkeypatch.setenv("HWSIM_CACHE_DIR", str(cache_dir))
    hw_path = DIGITS_HW
    _digits_problem(tmp_path, "0.2", 1)
    capsys.readouterr()
    out = tmp_path / "R.json"
    assert main(["search", "--problem", str(tmp_path / "P.json"), "--resimulate", "--hw", hw_path, "--model",
                 "digits-resnet", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "whole network re-simulated" in text
    doc = json.loads(out.read_text())
    budget = load_problem(tmp_path / "P.json").budget
    bits = {n: (int(lab[1]), int(lab.split("a")[1])) for n, lab in doc["assignment"].items()}
    from hwsim.workload import layers_from_module
    from hwsim.quant.digits_model import default_digits_model

    layers = layers_from_module(default_digits_model(), (1, 1, 16, 16))
    truth = simulate_network(layers, load_config(hw_path), bits, whole_network=True).latency_ms
    assert truth == pytest.approx(doc["cost"]) and truth <= budget
    rs = doc["resimulation"]
    assert rs["chosen"]["network_ms"] == pytest.approx(truth) and rs["table_optimum"]["table_ms"] <= budget
    assert doc["oracle_calls"] > 0
    assert main(["search", "--problem", str(tmp_path / "P.json"), "--resimulate"]) == 2
    assert "--resimulate needs the network" in capsys.readouterr().err


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), cost_frac=st.floats(0.2, 1.0), energy_frac=st.floats(0.0, 1.0))
def test_exact_with_an_energy_limit_is_the_brute_force_optimum(seed, cost_frac, energy_frac):
    """A second budget (on energy) is a constraint of the MILP: its answer is the best assignment within
    both budgets, found by enumerating all of them, and infeasible limits raise."""
    p = pipeline_like(5, 3, cost_frac, seed, energy=True)
    grid = np.array(list(itertools.product(range(3), repeat=p.n_layers)))
    obj, cost = p.evaluate(grid)
    energy = p.measure(grid, "energy")
    lo, hi = energy.min(), energy.max()
    limit = lo + energy_frac * (hi - lo)
    ok = (cost <= p.budget * (1 + 1e-12)) & (energy <= limit * (1 + 1e-12))
    if not ok.any():
        with pytest.raises(HwsimError, match="energy"):
            solve_exact(p, limits={"energy": limit})
        return
    sol = solve_exact(p, limits={"energy": limit})
    genes = p.genes_of(sol.assignment)
    assert sol.feasible and p.measure(genes, "energy")[0] <= limit * (1 + 1e-9)
    assert sol.objective == pytest.approx(obj[ok].min(), abs=1e-9)
    assert sol.objective >= solve_exact(p).objective - 1e-9  # a further budget never lowers the loss


def test_a_limit_on_a_metric_the_problem_lacks_is_refused():
    with pytest.raises(HwsimError, match="prices only"):
        solve_exact(paper_like(4, 0), limits={"energy": 1.0})


def test_a_bops_budget_is_macs_times_bits_from_any_lookup_table(tmp_path):
    """The hardware-independent budget of GMPQ and LIMPQ: bit operations (MACs x w x a), from the table's MACs."""
    from hwsim.search.build import problem_from_tables

    lut = {"format": "hwsim-lut/2", "choices": ["w2a8", "w8a8"], "policy": "none",
           "layers": [{"name": "a", "macs": 100, "latency_ms": {"w2a8": 1.0, "w8a8": 2.0}},
                      {"name": "b", "macs": 10, "latency_ms": {"w2a8": 1.0, "w8a8": 2.0}}]}
    sens = {"format": "hwsim-sensitivity/2", "choices": ["w2a8", "w8a8"], "policy": "none",
            "layers": {"a": {"w2a8": 1.0, "w8a8": 0.0}, "b": {"w2a8": 1.0, "w8a8": 0.0}}, "pairs": []}
    p = problem_from_tables(lut, sens, 100 * 16 + 10 * 64, "BOPs", "bops")
    assert p.cost_unit == "BOPs" and p.cost[:, 0].tolist() == [1600, 160] and p.cost[:, 1].tolist() == [6400, 640]
    assert solve_exact(p).assignment == {"a": "w2a8", "b": "w8a8"}  # the 8-bit layer that fits is the small one
