"""Joint hardware x bit-width co-design (``hwsim codesign``): which chip and which per-layer bits together.

Nested search.  Outer (:mod:`hwsim.codesign.outer`): every point of a hardware space (a sweep spec's base and
axes, all of its grid or a seeded sample) within the area budget, or NSGA-II over the axes for spaces too
large to enumerate; area needs no simulation, so chips over it are never searched.  Inner: the exact
mixed-precision search on that chip's lookup table under the latency budget, with the model's measured
sensitivities.  Each chip's pick is then simulated as a whole network (latency, energy).  An energy
budget steers the bits: when the latency-optimal pick spends too much, the MILP gets an energy row whose
limit is the budget rescaled by the simulated ratio of table sum to whole network (the per-layer table
counts DRAM traffic the whole network keeps on chip), re-solved until the whole-network energy fits.  The best pair is
the lowest predicted loss (ties: smaller area, then lower latency); the feasible pairs no other beats on
predicted loss, area and energy together are marked ``pareto``.  The same inner search on the space's
base chip is the fixed-hardware baseline.  The best pair and the baseline are then quantized by block
reconstruction, re-simulated and run in integers, as the pipeline validates its choices.

``hwsim.codesign.json`` (format ``hwsim-codesign/1``)::

    {"format", "model", "latency_ms", "area_mm2", "energy_uj", "outer": "all" | "nsga2", "points": N,
     "searched": n, "feasible": f,
     "candidates": [{"index", "values": {axis: value}, "area_mm2", "predicted_ms", "predicted_uj",
                     "simulated_ms", "energy_uj", "predicted_loss", "feasible", "violation", "reason", "pareto",
                     "assignment": {layer: "w4a8"}}, ...],
     "best": candidate + {"accuracy", "integer"}, "baseline": candidate + {"hardware", "accuracy", "integer"},
     "seconds"}
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import yaml

from hwsim.explore.executors import run_local
from hwsim.explore.spec import load_spec
from hwsim.cache import Cache
from hwsim.config import config_from_dict
from hwsim.errors import HwsimError
from hwsim.io import check_output_dir, write_atomic
from hwsim.lock import folder_lock
from hwsim.lut import build_lut
from hwsim.precision import PrecisionPolicy, parse_label
from hwsim.targets import simulate_network
from hwsim.quant.sources import check_model_source
from hwsim.search.build import check_sensitivity, problem_from_tables, read_json
from hwsim.search.exact import solve_exact
from hwsim.search.multi import nondominated
from hwsim.search.problem import check_feasible

from .outer import every_chip, nsga2_chips

from .pipeline import _log, _wa, quantize_checked, seed_everything, step_key, write_bits_file

FORMAT = "hwsim-codesign/1"


@dataclasses.dataclass(frozen=True)
class JointConfig:
    """What to search: a hardware space, the budgets, the model (default: the embedded digits task)."""

    space: str
    latency_ms: float
    area_mm2: float | None = None
    energy_uj: float | None = None
    model: str = "digits-resnet"
    checkpoint: str | None = None
    trust_checkpoint: bool = False  # load the checkpoint as a full pickle (it may run code)
    data: str | None = None
    sensitivity: str | None = None  # a hwsim sensitivity JSON; measured (and cached) when absent
    sensitivity_method: str = "brecq"  # how it is measured (quant.sensitivity.METHODS)
    sensitivity_options: tuple = ()  # (name, value) pairs of the method's own options
    iters: int = 200
    seed: int = 0
    jobs: int = 1
    validate: bool = True
    outer: str = "all"  # or "nsga2"
    population: int = 24
    generations: int = 10
    out: str = "out/codesign"
    policy: str = "first-last-8bit"
    torch_threads: int = 2


def _lut_chunk(task: tuple) -> list:
    """Build the lookup tables of a chunk of hardware points (one task of an executor)."""
    points, layers, model, shape, policy = task
    return [(index, build_lut(layers, config_from_dict(config, f"hardware point {index}"), model, shape, jobs=1,
                              progress=False, policy=PrecisionPolicy(policy))) for index, config in points]


def _inner(index: int, values: dict, config: dict, lut: dict, sens: dict, layers, cfg: JointConfig) -> dict:
    """The best bits on one chip under the latency (and energy) budget, simulated as a whole network.

    ``violation`` is 0 for a feasible pair, else how far over a budget it is (a fraction of that budget).
    """
    hw = config_from_dict(config, f"hardware point {index}")
    record = {"index": index, "values": values, "area_mm2": hw.area_mm2()}
    problem = problem_from_tables(lut, sens, cfg.latency_ms, "ms", "latency")
    try:
        check_feasible(problem)
    except HwsimError:
        cheapest = problem.cheapest_cost()
        return {**record, "feasible": False, "violation": cheapest / cfg.latency_ms - 1.0,
                "reason": f"cheapest bits take {cheapest:.4g} ms"}
    sol = solve_exact(problem)
    net = _simulated(layers, hw, sol)
    if cfg.energy_uj is not None and net.energy_uj is not None and net.energy_uj > cfg.energy_uj:
        sol, net = _within_energy(problem, layers, hw, sol, net, cfg.energy_uj)
        if sol is None:
            least = float(problem.as_cost("energy").cheapest_cost())
            return {**record, "feasible": False, "violation": max(net / cfg.energy_uj - 1.0, 1e-6),
                    "reason": f"no bits within {cfg.latency_ms} ms use at most {cfg.energy_uj} uJ as a whole network "
                              f"(least energy of the table's bits {least:.4g} uJ)"}
    genes = problem.genes_of(sol.assignment)
    record.update(predicted_ms=sol.cost, simulated_ms=net.latency_ms, energy_uj=net.energy_uj,
                  predicted_uj=float(problem.measure(genes, "energy")[0]) if "energy" in problem.metrics else None,
                  predicted_loss=sol.objective, assignment=sol.assignment, feasible=True, violation=0.0, reason="")
    if cfg.energy_uj is not None and net.energy_uj is None:
        record.update(feasible=False, violation=1.0, reason="this chip has no energy model")
    return record


def _simulated(layers, hw, sol):
    return simulate_network(layers, hw, {n: parse_label(c) for n, c in sol.assignment.items()}, whole_network=True)


def _within_energy(problem, layers, hw, sol, net, budget: float, rounds: int = 6):
    """The best bits whose whole-network energy is within ``budget``: the MILP's energy row limits the table's
    per-layer sum, which differs from the whole network (layers that share data on chip); the row's limit is
    rescaled by the simulated ratio until the pick fits and stops improving.  Returns (solution, network) or
    (None, least whole-network energy seen)."""
    table_uj = lambda s: float(problem.measure(problem.genes_of(s.assignment), "energy")[0])  # noqa: E731
    limit = budget * table_uj(sol) / net.energy_uj
    best, least = None, net.energy_uj
    for _ in range(rounds):
        try:
            cand = solve_exact(problem, limits={"energy": limit})
        except HwsimError:
            break
        cnet = _simulated(layers, hw, cand)
        least = min(least, cnet.energy_uj)
        if cnet.energy_uj <= budget:
            if best is not None and cand.objective >= best[0].objective - 1e-15:
                break
            best = (cand, cnet)
        new = limit * budget / cnet.energy_uj
        if abs(new - limit) <= 1e-9 * limit:
            break
        limit = new
    return best if best is not None else (None, least)


def _check(cfg: JointConfig):
    if not (cfg.latency_ms > 0):
        raise HwsimError(f"--latency-ms {cfg.latency_ms}: allowed: a positive number of ms")
    if cfg.area_mm2 is None and cfg.energy_uj is None:
        raise HwsimError("give a hardware budget: --area-mm2 A and/or --energy-uj E")
    if cfg.outer not in ("all", "nsga2"):
        raise HwsimError(f"--outer {cfg.outer}: allowed: all, nsga2")
    for name, v in (("--area-mm2", cfg.area_mm2), ("--energy-uj", cfg.energy_uj)):
        if v is not None and not v > 0:
            raise HwsimError(f"{name} {v}: allowed: a positive number")
    space = load_spec(cfg.space, hardware_only=True)
    if space.base.get("kind", "systolic") != "systolic":
        raise HwsimError(f"{cfg.space}: a co-design space needs a systolic base (area and energy models); "
                         f"allowed: kind systolic")
    check_model_source(cfg.model, cfg.checkpoint, cfg.data)
    if cfg.sensitivity:
        check_sensitivity(read_json(cfg.sensitivity, "sensitivity"), cfg.sensitivity)
    check_output_dir(cfg.out, create=False)
    return space


def run_joint(cfg: JointConfig, progress: bool = True) -> dict:
    """Search the space, validate the best pair and the fixed-hardware baseline, write OUT/codesign.json.

    Every input is checked before OUT is made; OUT is then locked for the run.
    """
    space = _check(cfg)
    with folder_lock(Path(cfg.out), "co-design"):
        return _run_joint(cfg, space, progress)


def _run_joint(cfg: JointConfig, space, progress: bool) -> dict:
    from hwsim.workload import layers_from_module
    from hwsim.quant.fingerprint import model_fingerprint
    from hwsim.quant.sensitivity import measure
    from hwsim.quant.sources import load_model_and_data

    start = time.perf_counter()
    out = Path(cfg.out)
    cache = Cache(out / "cache")
    policy = PrecisionPolicy(cfg.policy)
    seed_everything(cfg.seed, cfg.torch_threads)
    _log("[1/5] model, data and sensitivities", progress)
    model, data = load_model_and_data(cfg.model, cfg.checkpoint, cfg.data, seed=cfg.seed, progress=progress,
                                      trust_checkpoint=cfg.trust_checkpoint)
    layers = layers_from_module(model, data.input_shape)
    model_key = model_fingerprint(model)
    if cfg.sensitivity:
        sens = read_json(cfg.sensitivity, "sensitivity")
    else:
        method = cfg.sensitivity_method
        # pnmq quantizes weights only: 8-bit activations
        choices = [(w, 8) for w in (2, 4, 8)] if method == "pnmq" else [(w, a) for w in (2, 4, 8) for a in (2, 4, 8)]
        options = {"iters": cfg.iters, "metric": "kl"} if method == "brecq" else dict(cfg.sensitivity_options)
        key = {"model": model_key, "iters": cfg.iters, "seed": cfg.seed, "data": data.name,
               "policy": cfg.policy, "holdout": len(data.holdout_y)}
        if method != "brecq":  # (brecq's key stays as it was, so its caches stay valid)
            key = {**key, "method": method, **options}
        sens = cache.get("sensitivity", key, lambda: measure(method, model, data, choices, policy, cfg.model, cfg.seed,
                                                             progress, **options))

    shape = tuple(data.input_shape)

    def evaluate(points: list) -> list[dict]:
        """The inner search on each of ``points``; the tables are built on the process pool."""
        chunk = max(1, min(8, -(-len(points) // (4 * max(1, cfg.jobs)))))
        tasks = [([(p.index, p.config) for p in points[i:i + chunk]], layers, cfg.model, shape, cfg.policy)
                 for i in range(0, len(points), chunk)]
        by_index = {p.index: p for p in points}
        records = []
        for _, luts in run_local(_lut_chunk, tasks, cfg.jobs):
            for index, lut in luts:
                p = by_index[index]
                records.append(_inner(index, p.values, p.config, lut, sens, layers, cfg))
        return records

    area_of = lambda p: config_from_dict(p.config, f"hardware point {p.index}").area_mm2()  # noqa: E731
    n_points = len(space.indices()) if cfg.outer == "all" else space.grid_size  # NSGA-II: the whole grid
    if cfg.outer == "all":
        _log(f"[2/5] the inner bit search on every chip of {n_points} within the area budget "
             f"({cfg.jobs} processes build the tables)", progress)
        candidates = every_chip(space, evaluate, area_of, cfg.area_mm2)
    else:
        _log(f"[2/5] NSGA-II over the space's {n_points} chips ({cfg.population} x {cfg.generations} "
             f"generations), the inner bit search on each chip it visits", progress)
        candidates = nsga2_chips(space, evaluate, area_of, cfg.area_mm2, cfg.population, cfg.generations,
                                 cfg.seed, log=lambda m: _log(m, progress))
    _log(f"[3/5] {len(candidates)} chips searched", progress)
    candidates.sort(key=lambda c: (not c["feasible"], c.get("predicted_loss", 0.0), c["area_mm2"] or 0.0,
                                   c.get("simulated_ms", 0.0), c["index"]))
    feasible = [c for c in candidates if c["feasible"]]
    if not feasible:
        raise HwsimError(f"no chip of the space meets the budgets (latency {cfg.latency_ms} ms"
                         f"{', area ' + str(cfg.area_mm2) + ' mm2' if cfg.area_mm2 else ''}"
                         f"{', energy ' + str(cfg.energy_uj) + ' uJ' if cfg.energy_uj else ''}); allowed: looser "
                         f"budgets or a larger space")
    objectives = np.array([[c["predicted_loss"], c["area_mm2"], c["energy_uj"] if c["energy_uj"] is not None
                            else 0.0] for c in feasible])
    front = set(int(i) for i in nondominated(objectives))
    for c in candidates:
        c["pareto"] = False
    for i in front:
        feasible[i]["pareto"] = True

    _log("[4/5] the fixed-hardware baseline: the same bit search on the space's base chip", progress)
    base_hw = config_from_dict(space.base, space.source)
    base_lut = build_lut(layers, base_hw, cfg.model, shape, jobs=1, progress=False, policy=policy)
    baseline = {**_inner(-1, {}, space.base, base_lut, sens, layers, cfg), "hardware": base_hw.name}

    best = dict(feasible[0])
    if cfg.validate:
        _log("[5/5] validate the best pair and the baseline: block reconstruction, integers, re-simulation",
             progress)
        for rec in (best, baseline):
            if not rec["feasible"]:
                continue
            bits = {n: parse_label(c) for n, c in rec["assignment"].items()}
            q = quantize_checked(cache, step_key(model_key, data.name, cfg.iters, cfg.seed, cfg.policy,
                                                 cfg.torch_threads), model, data, bits, cfg.iters, cfg.seed, policy,
                                 progress)
            rec["accuracy"], rec["integer"] = q["accuracy"], q["integer"]
    doc = {"format": FORMAT, "model": cfg.model, "space": str(cfg.space), "latency_ms": cfg.latency_ms,
           "area_mm2": cfg.area_mm2, "energy_uj": cfg.energy_uj, "outer": cfg.outer, "points": n_points,
           "searched": len(candidates), "feasible": len(feasible), "candidates": candidates, "best": best, "baseline": baseline,
           "seconds": time.perf_counter() - start}
    write_atomic(out / "codesign.json", json.dumps(doc, indent=1, allow_nan=False) + "\n")
    best_config = space.point(best["index"]).config
    best_config["name"] = f"codesign_best_{best['index']}"
    write_atomic(out / "best_hw.yaml", yaml.safe_dump(best_config, sort_keys=False))
    write_bits_file(out / "best_bits.yaml", {n: _wa(parse_label(c)) for n, c in best["assignment"].items()})
    return doc
