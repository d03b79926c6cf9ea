"""The exact solver for the additive case: a multiple-choice knapsack with pair terms, as a MILP.

Binary x[l, k] picks choice k for layer l (one per layer); a pair term gets a variable y with
y >= x[a, ca] + x[b, cb] - 1, y <= x[a, ca], y <= x[b, cb], so y = 1 exactly when both choices
are taken.  Minimise sum(sens * x) + sum(pair_s * y) subject to sum(cost * x) <= budget.
Layers of an activation group share activation bits: for every follower and every activation
bit-width v, sum of x[follower, k with a_k = v] = sum of x[leader, k with a_k = v].
Extra ``limits`` (metric name -> largest total, e.g. ``{"energy": 5.0}``) add one row each over that
metric's table, so a second budget steers the search instead of filtering its answer.
Solved by HiGHS through ``scipy.optimize.milp`` (no external binary).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import lil_matrix

from hwsim.errors import HwsimError

from .problem import Problem, check_feasible
from .solution import Solution


@contextlib.contextmanager
def _c_stdout_silenced():
    """HiGHS prints some diagnostics straight to file descriptor 1; keep them off our standard output."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # no real file behind sys.stdout (e.g. captured)
        fd = 1
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def solve_exact(problem: Problem, time_limit: float = 60.0, limits: dict[str, float] | None = None) -> Solution:
    """The optimal assignment under the budget and any ``limits`` on the problem's metrics (raises HwsimError
    if they are infeasible or the solver fails)."""
    check_feasible(problem)
    limits = dict(limits or {})
    unknown = [m for m in limits if m not in problem.metrics]
    if unknown:
        raise HwsimError(f"a limit on {unknown[0]!r}: this problem prices only "
                         f"{', '.join(problem.metrics) or 'its cost'}")
    start = time.perf_counter()
    n_l, n_k = problem.cost.shape
    n_x, n_p = n_l * n_k, len(problem.pair_s)
    c = np.concatenate([problem.sens.ravel(), problem.pair_s])
    abits = problem.abits
    levels = np.unique(abits)
    n_tie = sum(len(g) - 1 for g in problem.act_groups) * len(levels)
    a = lil_matrix((n_l + 1 + len(limits) + 3 * n_p + n_tie, n_x + n_p))
    lo, hi = [], []
    for l in range(n_l):  # one choice per layer
        a[l, l * n_k:(l + 1) * n_k] = 1
        lo.append(1)
        hi.append(1)
    a[n_l, :n_x] = problem.cost.ravel()  # budget
    lo.append(-np.inf)
    hi.append(problem.budget - problem.fixed_cost)
    row = n_l + 1
    for name, limit in limits.items():  # further budgets on the problem's metrics
        a[row, :n_x] = problem.metrics[name].ravel()
        lo.append(-np.inf)
        hi.append(limit - problem.fixed_metrics.get(name, 0.0))
        row += 1
    for j in range(n_p):
        xa = problem.pair_a[j] * n_k + problem.pair_ca[j]
        xb = problem.pair_b[j] * n_k + problem.pair_cb[j]
        y = n_x + j
        a[row, y], a[row, xa], a[row, xb] = 1, -1, -1  # y - xa - xb >= -1
        lo.append(-1)
        hi.append(np.inf)
        a[row + 1, y], a[row + 1, xa] = 1, -1  # y <= xa
        a[row + 2, y], a[row + 2, xb] = 1, -1  # y <= xb
        lo += [-np.inf, -np.inf]
        hi += [0, 0]
        row += 3
    for group in problem.act_groups:
        lead = group[0]
        for m in group[1:]:
            for v in levels:
                for k in np.flatnonzero(abits == v):
                    a[row, m * n_k + k] = 1
                    a[row, lead * n_k + k] = -1
                lo.append(0)
                hi.append(0)
                row += 1
    with _c_stdout_silenced():
        res = milp(c, constraints=LinearConstraint(a.tocsr(), lo, hi), integrality=np.ones(n_x + n_p),
                   bounds=Bounds(0, 1), options={"time_limit": time_limit})
    if res.x is None:
        extra = f" within {', '.join(f'{m} {v:g}' for m, v in limits.items())}" if limits else ""
        raise HwsimError(f"exact solver found no solution{extra}: {res.message}")
    genes = res.x[:n_x].reshape(n_l, n_k).argmax(axis=1)
    obj, cost = problem.evaluate(genes)
    within = all(problem.measure(genes, m)[0] <= v * (1 + 1e-9) for m, v in limits.items())
    return Solution(problem.assignment(genes), float(obj[0]), float(cost[0]),
                    bool(cost[0] <= problem.budget * (1 + 1e-9)) and within, time.perf_counter() - start, "exact",
                    {"optimal": bool(res.status == 0), "mip_gap": float(getattr(res, "mip_gap", 0.0) or 0.0)})
