"""The genetic search: BRECQ Algorithm 2 (B.4.4), with seeds, repair and a local search around it.

The paper's algorithm (``GAConfig(paper=True)``): population 50, 100 iterations, mutation
probability 0.1; the first population is Gaussian samples rounded to choice ranks (choices ordered
by mean cost); every iteration keeps the top-k individuals seen so far, then makes half a population
by uniform crossover of top-k parents and half by mutating top-k parents, admitting only children
within the budget (rejection).

The default adds what makes it land on the optimum almost always (``benchmarks/search_quality.py``):

* it works on *units* (:mod:`hwsim.search.units`: an activation group is one unit with joint choices), so
  every candidate respects the groups without a repair that changes other layers' bits;
* part of the first population comes from the Lagrangian relaxation around the budget, greedily
  filled up to it and polished by the local search below (:func:`hwsim.search.moves.lagrangian_seeds`,
  :func:`hwsim.search.moves.fill`);
* children over budget are repaired, cutting cost where it loses least per unit of cost, rather
  than rejected (:func:`hwsim.search.moves.repair`);
* the search stops after ``patience`` iterations without a better best, and the best few distinct
  individuals end with a descent over one-unit changes and two-unit swaps
  (:func:`hwsim.search.moves.local_search`).

The cost is the problem's table sum, or, in hardware-in-the-loop mode, any callable ``oracle``
(assignment -> cost, e.g. a whole-network simulation), which the exact solver cannot use: the
table cost then only guides repair and the descent (its budget scaled by how much the table
overestimates the oracle on the seeds), the oracle decides feasibility.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import numpy as np

from hwsim.errors import HwsimError

from .moves import fill, lagrangian_seeds, local_search, repair
from .problem import Problem, check_feasible
from .solution import Solution
from .units import Units, build_units


@dataclasses.dataclass(frozen=True)
class GAConfig:
    """Paper defaults (B.4.4) for population, iterations and mutation; ``topk`` and batching are ours."""

    population: int = 50
    iterations: int = 100
    mutation: float = 0.1
    topk: int = 25
    paper: bool = False  # the paper's algorithm alone: Gaussian start, rejection, no seeds, no local search
    seeds: int = 12  # Lagrangian seeds in the first population
    patience: int = 25  # stop after this many iterations without a better best
    polish_starts: int = 4  # best distinct individuals given the final local search
    polish_rounds: int = 500
    batch_factor: int = 4  # paper mode: candidates proposed per needed child in one batch
    max_batches: int = 20  # paper mode: batches tried before filling up with top-k copies


class _Costs:
    """Table costs of unit assignments, or oracle costs (cached per assignment)."""

    def __init__(self, units: Units, oracle: Callable[[dict], float] | None):
        self.units, self.oracle, self.cache = units, oracle, {}

    def __call__(self, genes: np.ndarray) -> np.ndarray:
        genes = np.atleast_2d(genes)
        if self.oracle is None:
            return self.units.evaluate(genes)[1] + self.units.problem.fixed_cost
        out = np.empty(len(genes))
        p = self.units.problem
        for i, g in enumerate(self.units.layer_genes(genes)):
            key = g.tobytes()
            if key not in self.cache:
                self.cache[key] = float(self.oracle(p.assignment(g)))
            out[i] = self.cache[key]
        return out


def _rejection(make, costs: _Costs, budget: float, need: int, cfg: GAConfig, fallback: np.ndarray,
               stats: list) -> np.ndarray:
    """``need`` budget-satisfying rows from batches of ``make(n)``; top-k copies fill any shortfall."""
    got, proposed, admitted = [], 0, 0
    for _ in range(cfg.max_batches):
        cand = make(cfg.batch_factor * need)
        ok = costs(cand) <= budget
        proposed += len(cand)
        admitted += int(ok.sum())
        got.append(cand[ok])
        if sum(len(g) for g in got) >= need:
            break
    rows = np.concatenate(got)[:need] if got else np.empty((0, fallback.shape[1]), dtype=np.int64)
    if len(rows) < need:
        rows = np.concatenate([rows, fallback[np.arange(need - len(rows)) % len(fallback)]])
    stats.append(admitted / max(proposed, 1))
    return rows


def solve_ga(problem: Problem, seed: int = 0, config: GAConfig | None = None,
             oracle: Callable[[dict], float] | None = None, seeds: list[dict[str, str]] | None = None) -> Solution:
    """Best assignment found by the genetic algorithm (feasible whenever any feasible one was found).

    ``seeds``: assignments (layer -> label) put into the first population, e.g. the exact solver's answer
    on the additive surrogate when ``oracle`` prices candidates by re-simulation.
    """
    cfg = config or GAConfig()
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    units = build_units(problem)
    n_u = units.cost.shape[0]
    n_valid = units.valid.sum(axis=1)
    costs = _Costs(units, oracle)
    budget = problem.budget
    # choice ranks by mean cost, per unit (units have different numbers of joint choices)
    rank_to_choice = np.argsort(np.where(units.valid, units.cost, np.inf), axis=1, kind="stable")
    half = cfg.population // 2

    if oracle is None:
        check_feasible(problem)
    cheapest = units.unit_genes(problem.cheapest_genes())
    if oracle is not None and costs(cheapest)[0] > budget:
        raise HwsimError(f"budget {budget:g} {problem.cost_unit} is infeasible: the cheapest assignment costs "
                         f"{costs(cheapest)[0]:g} {problem.cost_unit} (re-simulated); allowed: a budget of at least "
                         f"{costs(cheapest)[0]:g}")
    given = units.unit_genes(np.array([problem.genes_of(a) for a in seeds])) if seeds else \
        np.empty((0, n_u), dtype=np.int64)
    if oracle is not None:  # let the table steer towards what the oracle allows: scale its budget by the
        probe = np.concatenate([cheapest, given])  # the table's overestimate seen on the seeds
        table = units.evaluate(probe)[1] + problem.fixed_cost
        ratio = max(1.0, float(np.max(table / np.maximum(costs(probe), 1e-300))))
        units = build_units(problem.with_budget(budget * ratio))
    stats: list[float] = []

    def gaussian(n):
        r = rng.normal(0.5, 0.5, (n, n_u)) * (n_valid - 1)[None, :]
        ranks = np.clip(np.rint(r), 0, (n_valid - 1)[None, :]).astype(np.int64)
        return rank_to_choice[np.arange(n_u)[None, :], ranks]

    def mutate(n, top):
        child = top[rng.integers(0, len(top), n)].copy()
        hit = rng.random((n, n_u)) < cfg.mutation
        child[hit] = np.floor(rng.random(int(hit.sum())) * n_valid[np.nonzero(hit)[1]]).astype(np.int64)
        return child

    def crossover(n, top):
        pa = top[rng.integers(0, len(top), n)]
        pb = top[rng.integers(0, len(top), n)]
        return np.where(rng.random((n, n_u)) < 0.5, pa, pb)

    if cfg.paper:
        pop = _rejection(gaussian, costs, budget, cfg.population - len(given), cfg, cheapest, stats)
        pop = np.concatenate([given, pop])
    else:
        seeds = fill(units, repair(units, lagrangian_seeds(units, min(cfg.seeds, cfg.population))))
        seeds = np.stack([local_search(units, g, cfg.polish_rounds) for g in np.unique(seeds, axis=0)])
        seeds = np.concatenate([given, seeds])[:cfg.population]
        pop = np.concatenate([seeds, fill(units, repair(units, gaussian(cfg.population - len(seeds))))])

    top = np.empty((0, n_u), dtype=np.int64)
    history, best_obj, stale = [], np.inf, 0
    for _ in range(cfg.iterations):
        pool = np.unique(np.concatenate([top, pop]), axis=0)
        obj = units.evaluate(pool)[0]
        feasible = costs(pool) <= budget
        order = np.argsort(np.where(feasible, obj, np.inf), kind="stable")
        top = pool[order[:cfg.topk]]
        history.append(float(obj[order[0]]))
        stale = 0 if history[-1] < best_obj - 1e-12 * max(1.0, abs(best_obj)) else stale + 1
        best_obj = min(best_obj, history[-1])
        if not cfg.paper and stale >= cfg.patience:
            break
        if cfg.paper:
            pop = np.concatenate([
                _rejection(lambda n, top=top: crossover(n, top), costs, budget, half, cfg, top, stats),
                _rejection(lambda n, top=top: mutate(n, top), costs, budget, cfg.population - half, cfg, top, stats)])
        else:
            pop = repair(units, np.concatenate([crossover(half, top), mutate(cfg.population - half, top)]))
    pool = np.unique(np.concatenate([top, pop]), axis=0)
    obj = units.evaluate(pool)[0]
    cost = costs(pool)
    feasible = cost <= budget
    ranked = np.argsort(np.where(feasible, obj, np.inf), kind="stable")
    best = int(ranked[0]) if feasible.any() else int(np.argmin(cost))
    genes, ga_objective = pool[best], float(obj[best])
    if not cfg.paper and feasible[best]:
        starts = pool[ranked[:cfg.polish_starts]]
        starts = starts[costs(starts) <= budget]
        polished = np.stack([local_search(units, g, cfg.polish_rounds) for g in starts])
        if oracle is not None:  # the table cost guided the descent; the oracle still decides
            polished = polished[costs(polished) <= budget] if (costs(polished) <= budget).any() else starts
        genes = polished[int(np.argmin(units.evaluate(polished)[0]))]
    layer = units.layer_genes(genes[None, :])[0]
    final_obj, final_cost = problem.evaluate(layer)[0][0], costs(genes[None, :])[0]
    return Solution(problem.assignment(layer), float(final_obj), float(final_cost),
                    bool(final_cost <= budget * (1 + 1e-12)),
                    time.perf_counter() - start, "ga",
                    {"seed": seed, "history": history, "ga_objective": ga_objective,
                     "iterations": len(history),
                     "admission_rate": float(np.mean(stats)) if stats else None,
                     "oracle_calls": len(costs.cache) if oracle is not None else 0})
