"""The genetic search of BRECQ Algorithm 2 (B.4.4), vectorised with numpy.

Population 50, 100 iterations, mutation probability 0.1; the first population is Gaussian
samples rounded to choice ranks (choices ordered by mean cost); every iteration keeps the top-k
individuals seen so far, then makes half a population by uniform crossover of top-k parents and
half by mutating top-k parents, admitting only children within the budget (rejection, as in the
paper).  Candidates are proposed and costed in batches.  Beyond the paper, the best individual is
then polished by steepest descent over all one- and two-layer changes within the budget (on by
default; ``GAConfig(polish=False)`` is the paper's algorithm alone).

Every candidate is repaired so that layers reading one tensor share activation bits
(``Problem.repair``).  The cost is the problem's table sum, or, in hardware-in-the-loop mode, any callable ``oracle``
(assignment -> cost, e.g. a whole-network simulation), which the exact solver cannot use.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable

import numpy as np

from hwsim.errors import HwsimError

from .problem import Problem
from .solution import Solution


@dataclasses.dataclass(frozen=True)
class GAConfig:
    """Paper defaults (B.4.4) except ``topk`` and the batch sizes, which the paper does not give."""

    population: int = 50
    iterations: int = 100
    mutation: float = 0.1
    topk: int = 25
    polish: bool = True  # hill-climb the best by one- and two-layer changes afterwards (not in the paper)
    polish_rounds: int = 200
    polish_starts: int = 8  # best distinct individuals polished
    batch_factor: int = 4  # candidates proposed per needed child in one batch
    max_batches: int = 20  # batches tried before filling up with top-k copies


class _Costs:
    """Table costs (vectorised) or oracle costs (cached per assignment)."""

    def __init__(self, problem: Problem, oracle: Callable[[dict], float] | None):
        self.problem, self.oracle, self.cache = problem, oracle, {}

    def __call__(self, genes: np.ndarray) -> np.ndarray:
        if self.oracle is None:
            return self.problem.evaluate(genes)[1]
        out = np.empty(len(genes))
        for i, g in enumerate(genes):
            key = g.tobytes()
            if key not in self.cache:
                self.cache[key] = float(self.oracle(self.problem.assignment(g)))
            out[i] = self.cache[key]
        return out


def _feasible_children(make, costs: _Costs, budget: float, need: int, cfg: GAConfig, fallback: np.ndarray,
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


def polish(problem: Problem, genes: np.ndarray, costs: "_Costs", rounds: int) -> np.ndarray:
    """Steepest descent over every change of one layer's choice and of two layers' choices, within budget."""
    n_l, n_k = problem.cost.shape
    singles = [(l, k) for l in range(n_l) for k in range(n_k)]
    li = np.array([l for l, _ in singles])
    ki = np.array([k for _, k in singles])
    a, b = np.triu_indices(len(singles), k=1)
    a, b = a[li[a] != li[b]], b[li[a] != li[b]]  # two different layers
    best_obj = problem.evaluate(genes)[0][0]
    for _ in range(rounds):
        one = np.repeat(genes[None, :], len(singles), axis=0)
        one[np.arange(len(singles)), li] = ki
        two = np.repeat(genes[None, :], len(a), axis=0)
        two[np.arange(len(a)), li[a]] = ki[a]
        two[np.arange(len(a)), li[b]] = ki[b]
        cand = problem.repair(np.concatenate([one, two]))
        obj, cost = problem.evaluate(cand)
        if costs.oracle is not None:  # table cost screens, the oracle decides
            ok = np.flatnonzero(obj < best_obj - 1e-12)
            ok = ok[np.argsort(obj[ok])][:20]
            feasible = ok[costs(cand[ok]) <= problem.budget]
            i = feasible[0] if len(feasible) else None
        else:
            obj = np.where(cost <= problem.budget, obj, np.inf)
            i = int(np.argmin(obj)) if obj.min() < best_obj - 1e-12 else None
        if i is None:
            break
        genes, best_obj = cand[i], obj[i]
    return genes


def solve_ga(problem: Problem, seed: int = 0, config: GAConfig | None = None,
             oracle: Callable[[dict], float] | None = None) -> Solution:
    """Best assignment found by the genetic algorithm (feasible whenever any feasible one was found)."""
    cfg = config or GAConfig()
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    n_l, n_k = problem.cost.shape
    costs = _Costs(problem, oracle)
    rank_to_choice = np.argsort(problem.cost.mean(axis=0), kind="stable")
    half = cfg.population // 2

    cheapest = problem.cheapest_genes()[None, :]
    if costs(cheapest)[0] > problem.budget:
        if oracle is None:
            raise HwsimError(f"budget {problem.budget:g} is infeasible: the cheapest assignment costs "
                             f"{problem.cheapest_cost():g}")
    stats: list[float] = []

    def gaussian(n):
        ranks = np.clip(np.rint(rng.normal((n_k - 1) / 2, max((n_k - 1) / 2, 0.5), (n, n_l))), 0, n_k - 1)
        return problem.repair(rank_to_choice[ranks.astype(np.int64)])

    pop = _feasible_children(gaussian, costs, problem.budget, cfg.population, cfg, cheapest, stats)
    top = np.empty((0, n_l), dtype=np.int64)
    history = []
    for _ in range(cfg.iterations):
        pool = np.unique(np.concatenate([top, pop]), axis=0)
        obj = problem.evaluate(pool)[0]
        feasible = costs(pool) <= problem.budget
        order = np.argsort(np.where(feasible, obj, np.inf), kind="stable")
        top = pool[order[:cfg.topk]]
        history.append(float(obj[order[0]]))

        def crossover(n):
            pa = top[rng.integers(0, len(top), n)]
            pb = top[rng.integers(0, len(top), n)]
            return problem.repair(np.where(rng.random((n, n_l)) < 0.5, pa, pb))

        def mutate(n):
            child = top[rng.integers(0, len(top), n)].copy()
            hit = rng.random((n, n_l)) < cfg.mutation
            child[hit] = rng.integers(0, n_k, int(hit.sum()))
            return problem.repair(child)

        pop = np.concatenate([_feasible_children(crossover, costs, problem.budget, half, cfg, top, stats),
                              _feasible_children(mutate, costs, problem.budget, cfg.population - half, cfg, top,
                                                 stats)])
    pool = np.unique(np.concatenate([top, pop]), axis=0)
    obj = problem.evaluate(pool)[0]
    cost = costs(pool)
    feasible = cost <= problem.budget
    best = int(np.argmin(np.where(feasible, obj, np.inf))) if feasible.any() else int(np.argmin(cost))
    genes, ga_objective = pool[best], float(obj[best])
    if cfg.polish and feasible[best]:  # polish the best few distinct individuals, keep the best result
        starts = pool[np.argsort(np.where(feasible, obj, np.inf), kind="stable")[:cfg.polish_starts]]
        starts = starts[costs(starts) <= problem.budget]
        polished = np.stack([polish(problem, g, costs, cfg.polish_rounds) for g in starts])
        genes = polished[int(np.argmin(problem.evaluate(polished)[0]))]
    final_obj, final_cost = problem.evaluate(genes)[0][0], costs(genes[None, :])[0]
    return Solution(problem.assignment(genes), float(final_obj), float(final_cost),
                    bool(final_cost <= problem.budget),
                    time.perf_counter() - start, "ga",
                    {"seed": seed, "history": history, "ga_objective": ga_objective,
                     "admission_rate": float(np.mean(stats)),
                     "oracle_calls": len(costs.cache) if oracle is not None else 0})
