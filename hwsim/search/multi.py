"""Multi-objective search: the Pareto set of predicted loss against latency, energy or size, by NSGA-II.

NSGA-II is pymoo's (a maintained implementation; no hand-written sorting or crowding here).  Each
variable is a unit's choice (:mod:`hwsim.search.units`, so activation groups hold), bounded by its number
of joint choices, with integer crossover and mutation (rounded SBX and polynomial mutation).  The
first population is seeded with the Lagrangian fronts of loss against each other objective (per unit
the choice minimising loss + lambda x objective, for lambdas spread over many orders of magnitude),
the rest random.  A finite budget on the problem's cost stays a constraint.

:func:`exact_front` sweeps the budget through the MILP for the two-objective reference, and
:func:`hypervolume_ratio` compares fronts (``benchmarks/search_quality.py --pareto``).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from hwsim.errors import HwsimError

from .exact import solve_exact
from .moves import lagrangian
from .problem import Problem
from .units import Units, build_units


@dataclasses.dataclass
class Front:
    """Non-dominated assignments: ``points[i]`` holds ``objectives`` of ``assignments[i]``."""

    objectives: list[str]
    points: np.ndarray
    assignments: list[dict[str, str]]
    seconds: float
    solver: str

    def to_json(self) -> dict:
        """The result document of a multi-objective search."""
        return {"solver": self.solver, "objectives": self.objectives, "seconds": self.seconds,
                "front": [{"objectives": dict(zip(self.objectives, map(float, pt))), "assignment": a}
                          for pt, a in zip(self.points, self.assignments)]}

    def table(self) -> str:
        """One line per point, sorted by the second objective."""
        head = ["#"] + self.objectives
        rows = [[str(i)] + [f"{v:.6g}" for v in pt] for i, pt in enumerate(self.points)]
        width = [max(len(r[c]) for r in rows + [head]) for c in range(len(head))]
        line = lambda r: "  ".join(v.rjust(width[c]) for c, v in enumerate(r))
        return "\n".join([line(head), line(["-" * w for w in width])] + [line(r) for r in rows]) + \
            f"\n{len(rows)} non-dominated points; {self.solver}, {self.seconds:.2f} s\n"


def check_objectives(problem: Problem, objectives: list[str]) -> None:
    """At least two distinct objectives, each ``loss``, ``cost`` or a metric of the problem."""
    allowed = ["loss", "cost"] + list(problem.metrics)
    bad = [o for o in objectives if o not in allowed]
    if bad or len(set(objectives)) != len(objectives) or len(objectives) < 2:
        raise HwsimError(f"objectives {','.join(objectives)}: allowed two or more distinct of {', '.join(allowed)}"
                         + ("" if problem.metrics else " (this problem file has no per-layer metrics; "
                                                      "'hwsim problem' adds latency, size and energy)"))


def _unit_tables(units: Units, problem: Problem, objectives: list[str]) -> dict[str, tuple[np.ndarray, float]]:
    tables = {}
    for name in objectives:
        if name == "cost":
            tables[name] = (units.cost, problem.fixed_cost)
        elif name != "loss":
            tables[name] = (units.table(problem.metrics[name]), problem.fixed_metrics.get(name, 0.0))
    return tables


def nondominated(points: np.ndarray) -> np.ndarray:
    """Indices of the points no other point dominates (duplicates kept once)."""
    keep = []
    for i, p in enumerate(points):
        dominated = np.any(np.all(points <= p, axis=1) & np.any(points < p, axis=1))
        if not dominated and not any(np.array_equal(points[j], p) for j in keep):
            keep.append(i)
    return np.array(keep, dtype=np.int64)


def pareto_nsga2(problem: Problem, objectives: list[str], seed: int = 0, population: int = 100,
                 generations: int = 150) -> Front:
    """The Pareto set of ``objectives`` (``loss``, ``cost`` or metric names) found by NSGA-II."""
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem as PymooProblem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.optimize import minimize

    check_objectives(problem, objectives)
    start = time.perf_counter()
    units = build_units(problem)
    n_u = units.cost.shape[0]
    upper = units.valid.sum(axis=1) - 1
    tables = _unit_tables(units, problem, objectives)
    limited = np.isfinite(problem.budget)
    rows = np.arange(n_u)

    def measure(genes: np.ndarray) -> np.ndarray:
        cols = []
        for name in objectives:
            if name == "loss":
                cols.append(units.evaluate(genes)[0])
            else:
                table, fixed = tables[name]
                cols.append(table[rows, genes].sum(axis=1) + fixed)
        return np.stack(cols, axis=1)

    class _Search(PymooProblem):
        def __init__(self):
            super().__init__(n_var=n_u, n_obj=len(objectives), n_ieq_constr=1 if limited else 0, xl=0, xu=upper,
                             vtype=int)

        def _evaluate(self, x, out, *args, **kwargs):
            genes = np.clip(np.rint(x).astype(np.int64), 0, upper)
            out["F"] = measure(genes)
            if limited:
                out["G"] = (units.evaluate(genes)[1] + problem.fixed_cost - problem.budget)[:, None]

    rng = np.random.default_rng(seed)
    seeds = []
    for table, _ in tables.values():  # Lagrangian fronts: loss + lambda x objective
        scale = np.nanmax(np.where(units.valid, np.abs(units.sens), np.nan)) / max(
            np.nanmax(np.where(units.valid, table, np.nan)), 1e-300)
        for lam in np.geomspace(1e-4, 1e4, max(population // (2 * len(tables)), 2)) * scale:
            seeds.append(lagrangian(units, lam, table))
    seeds.append(lagrangian(units, 0.0))
    seeds = np.unique(np.array(seeds), axis=0)[:population]
    rand = np.floor(rng.random((population - len(seeds), n_u)) * (upper + 1)).astype(np.int64)
    algorithm = NSGA2(pop_size=population, sampling=np.concatenate([seeds, rand]).astype(float),
                      crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
                      mutation=PM(eta=20, vtype=float, repair=RoundingRepair()), eliminate_duplicates=True)
    res = minimize(_Search(), algorithm, ("n_gen", generations), seed=seed, verbose=False)
    pop = res.pop
    genes = np.clip(np.rint(pop.get("X")).astype(np.int64), 0, upper)
    if limited:
        genes = genes[(units.evaluate(genes)[1] + problem.fixed_cost) <= problem.budget * (1 + 1e-12)]
    if not len(genes):
        raise HwsimError(f"no assignment within budget {problem.budget:g} was found")
    points = measure(genes)
    keep = nondominated(points)
    order = keep[np.lexsort(points[keep].T[::-1])]
    layer = units.layer_genes(genes[order])
    return Front(list(objectives), points[order], [problem.assignment(g) for g in layer],
                 time.perf_counter() - start, "nsga2")


def exact_front(problem: Problem, metric: str = "cost", points: int = 40) -> Front:
    """Loss against ``metric`` by the MILP at ``points`` budgets from the cheapest to the dearest within the
    problem's budget (the non-dominated answers)."""
    start = time.perf_counter()
    if metric != "cost" and problem.budget < problem.dearest_cost():
        raise HwsimError(f"the exact front of loss against {metric} sweeps that metric's budget alone; this problem "
                         f"also limits its cost to {problem.budget:g}: give it a budget of at least "
                         f"{problem.dearest_cost():g} (e.g. 'hwsim problem --budget 1')")
    base = problem.as_cost(metric)
    lo, hi = base.cheapest_cost(), base.dearest_cost()
    if metric == "cost":
        hi = min(hi, problem.budget)
    genes = []
    for b in np.linspace(lo, hi, points):
        sol = solve_exact(base.with_budget(b))
        genes.append(problem.genes_of(sol.assignment))
    genes = np.array(genes)
    pts = np.stack([problem.measure(genes, "loss"), problem.measure(genes, metric)], axis=1)
    keep = nondominated(pts)
    order = keep[np.argsort(pts[keep, 1])]
    return Front(["loss", metric], pts[order], [problem.assignment(g) for g in genes[order]],
                 time.perf_counter() - start, f"exact ({points} budgets)")


def hypervolume_ratio(front: np.ndarray, reference: np.ndarray) -> float:
    """Hypervolume of ``front`` over that of ``reference``, both normalised to the reference's range
    (reference point 1.1 x its nadir), so 1.0 means as good a front."""
    from pymoo.indicators.hv import HV

    lo, hi = reference.min(axis=0), reference.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    hv = HV(ref_point=np.full(reference.shape[1], 1.1))
    return float(hv((front - lo) / span) / hv((reference - lo) / span))
