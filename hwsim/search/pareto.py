"""Budget sweeps: the Pareto front of predicted loss against cost, as CSV and as a plot (paper Fig. 2 style)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from hwsim.io import save_figure

from .exact import solve_exact
from .ga import solve_ga
from .problem import Problem

SOLVERS = {"ga": lambda p, seed: solve_ga(p, seed), "exact": lambda p, seed: solve_exact(p)}


def uniform_points(problem: Problem) -> list[dict]:
    """Every layer at the same choice: (choice, objective, cost)."""
    out = []
    for k, c in enumerate(problem.choices):
        obj, cost = problem.evaluate(np.full(problem.n_layers, k))
        out.append({"choice": c, "objective": float(obj[0]), "cost": float(cost[0])})
    return out


def sweep(problem: Problem, points: int = 10, solver: str = "ga", seed: int = 0) -> list[dict]:
    """Solve at ``points`` budgets evenly spaced from the cheapest to the dearest assignment."""
    lo, hi = problem.cheapest_cost(), problem.dearest_cost()
    rows = []
    for budget in np.linspace(lo, hi, points):
        sol = SOLVERS[solver](problem.with_budget(budget), seed)
        rows.append({"budget": float(budget), "objective": sol.objective, "cost": sol.cost, "feasible": sol.feasible,
                     "seconds": sol.seconds, "assignment": sol.assignment})
    return rows


def to_csv(rows: list[dict], uniform: list[dict]) -> str:
    """Sweep rows then uniform points: kind, budget, cost, objective, label."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["kind", "budget", "cost", "objective", "label"])
    for r in rows:
        w.writerow(["mixed", f"{r['budget']:.6g}", f"{r['cost']:.6g}", f"{r['objective']:.6g}", ""])
    for u in uniform:
        w.writerow(["uniform", "", f"{u['cost']:.6g}", f"{u['objective']:.6g}", u["choice"]])
    return buf.getvalue()


_WCOLOR = {2: "tab:red", 4: "tab:orange", 8: "tab:green"}
_AMARKER = {2: "v", 4: "s", 8: "^"}


def uniform_style(choice: str) -> dict:
    """Matplotlib scatter style of a uniform configuration: colour by weight bits, marker by activation bits.

    Used with one legend entry per configuration, so labels never overlap on the plot.
    """
    w, a = (int(v) for v in choice[1:].split("a"))
    return {"marker": _AMARKER.get(a, "o"), "color": _WCOLOR.get(w, "gray"), "edgecolor": "black",
            "linewidth": 0.5, "s": 70, "zorder": 3, "label": f"uniform {choice}"}


def plot(rows: list[dict], uniform: list[dict], out_stem: Path, title: str, cost_label: str,
         value_label: str = "predicted loss increase (sum of sensitivities)") -> list[Path]:
    """Write ``out_stem``.png and .svg: mixed-precision front against the uniform-precision points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot([r["cost"] for r in rows], [r["objective"] for r in rows], "o-", color="tab:blue",
            label="mixed precision (searched)")
    for u in uniform:
        ax.scatter(u["cost"], u["objective"], **uniform_style(u["choice"]))
    ax.set_xlabel(cost_label)
    ax.set_ylabel(value_label)
    ax.set_title(title, fontsize=10, parse_math=False)  # a user's title is text, never mathtext
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out_stem)
