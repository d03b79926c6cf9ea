"""Problems built from the project's own tables: a ``hwsim-lut/2`` table and a ``hwsim-sensitivity/2`` table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hwsim.errors import HwsimError
from hwsim.io import read_text

from .problem import Problem

METRICS = {"latency": ("latency_ms", "ms"), "size": ("weight_bytes", "bytes"), "energy": ("energy_uj", "uJ"),
           "bops": ("bops", "BOPs")}
BUDGET_UNITS = ("ms", "bytes", "uJ", "BOPs", "fraction")


def _with_bops(row: dict) -> dict:
    """A lookup-table row with its bit operations per choice, MACs x w x a (hardware-independent, as GMPQ and
    LIMPQ budget them)."""
    if "bops" in row or "macs" not in row:
        return row
    return {**row, "bops": {c: float(row["macs"]) * int(c[1:].split("a")[0]) * int(c.split("a")[1])
                            for c in row["latency_ms"]}}


def read_json(path: str | Path, what: str) -> dict:
    """A JSON file, or a clear error naming it."""
    p = Path(path)
    text = read_text(p, f"{what} file")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HwsimError(f"{p}: not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise HwsimError(f"{p}: not valid JSON: nested too deeply") from None
    if not isinstance(doc, dict):
        raise HwsimError(f"{p}: expected a JSON object (a hwsim {what} table), got {type(doc).__name__}")
    return doc


def problem_from_tables(lut: dict, sensitivity: dict, budget: float, budget_unit: str = "fraction",
                        metric: str = "latency") -> Problem:
    """The search problem over the choices both tables have; budget in ms, bytes, or a fraction of the range.

    A fraction f means cheapest + f x (dearest - cheapest) cost.
    """
    if metric not in METRICS:
        raise HwsimError(f"metric {metric!r}; allowed: {', '.join(METRICS)}")
    if budget_unit not in BUDGET_UNITS:
        raise HwsimError(f"budget unit {budget_unit!r}; allowed: {', '.join(BUDGET_UNITS)}")
    field, unit = METRICS[metric]
    if budget_unit != "fraction" and budget_unit != unit:
        raise HwsimError(f"a {metric} budget is in {unit} or a fraction, not {budget_unit}")
    if lut.get("format") != "hwsim-lut/2" or sensitivity.get("format") != "hwsim-sensitivity/2":
        raise HwsimError("expected a hwsim-lut/2 table and a hwsim-sensitivity/2 table (remake older ones with "
                         "hwsim lut and hwsim sensitivity)")
    if lut.get("policy", "none") != sensitivity.get("policy", "none"):
        raise HwsimError(f"the lookup table was built under precision policy {lut.get('policy')!r} and the "
                         f"sensitivity table under {sensitivity.get('policy')!r}: make both with the same --policy")
    choices = [c for c in sensitivity["choices"] if c in lut["choices"]]
    if not choices:
        raise HwsimError(f"the tables share no bit choice: sensitivity has {sensitivity['choices']}, "
                         f"the lookup table {lut['choices']}")
    rows = {r["name"]: _with_bops(r) for r in lut["layers"]}
    if any(field not in r for r in rows.values()):
        raise HwsimError(f"the lookup table has no {field} for {lut.get('hardware', {}).get('name', 'this target')}; "
                         f"allowed metrics for it: " + ", ".join(m for m, (f, _) in METRICS.items()
                                                                 if all(f in r for r in rows.values())))
    names = list(sensitivity["layers"])
    missing = [n for n in names if n not in rows]
    if missing:
        raise HwsimError(f"layer {missing[0]!r} of the sensitivity table is not in the lookup table "
                         f"({len(missing)} missing): were they built for the same model?")
    pinned = sensitivity.get("pinned", {})
    uncovered = [n for n in rows if n not in sensitivity["layers"] and n not in pinned]
    if uncovered:
        raise HwsimError(f"layer {uncovered[0]!r} of the lookup table has no sensitivity ({len(uncovered)} such "
                         f"layers): were the two tables built for the same model?")
    unknown = [n for n in pinned if n not in rows]
    if unknown:
        raise HwsimError(f"pinned layer {unknown[0]!r} of the sensitivity table is not in the lookup table")
    unpriced = [(n, c) for n, c in pinned.items() if c not in rows[n][field]]
    if unpriced:
        raise HwsimError(f"pinned layer {unpriced[0][0]!r} is pinned at {unpriced[0][1]}, which the lookup table "
                         f"does not price")
    fixed_cost = float(sum(rows[n][field][c] for n, c in pinned.items()))
    cost = np.array([[rows[n][field][c] for c in choices] for n in names], dtype=float)
    sens = np.array([[sensitivity["layers"][n][c] for c in choices] for n in names], dtype=float)
    index = {n: i for i, n in enumerate(names)}
    cidx = {c: k for k, c in enumerate(choices)}
    pairs = [p for p in sensitivity.get("pairs", []) if p["choice_a"] in cidx and p["choice_b"] in cidx]
    ints = lambda key, table: np.array([table[p[key]] for p in pairs], dtype=np.int64)
    blocks = sensitivity.get("blocks", {})
    groups = []
    for g in sensitivity.get("act_groups", []):
        if any(n in pinned for n in g):
            raise HwsimError(f"layers {g} read one tensor but the policy pins only some of them: not supported; "
                             f"use --policy none")
        groups.append([index[n] for n in g])
    # every metric the table prices (latency, size, energy) rides along for multi-objective searches
    priced = [m for m, (f, _) in METRICS.items() if all(f in rows[n] for n in rows)]
    metrics = {m: np.array([[rows[n][METRICS[m][0]][c] for c in choices] for n in names], dtype=float) for m in priced}
    fixed_metrics = {m: float(sum(rows[n][METRICS[m][0]][c] for n, c in pinned.items())) for m in priced}
    problem = Problem(choices, float(budget), names, [blocks.get(n) for n in names], cost, sens,
                      ints("a", index), ints("b", index), ints("choice_a", cidx), ints("choice_b", cidx),
                      np.array([p["sensitivity"] for p in pairs], dtype=float), unit, fixed_cost, dict(pinned), groups,
                      metrics, fixed_metrics)
    if budget_unit == "fraction":
        if not 0 <= budget <= 1:
            raise HwsimError(f"a fractional budget must be in [0, 1], got {budget}")
        lo, hi = problem.cheapest_cost(), problem.dearest_cost()
        problem = problem.with_budget(lo + budget * (hi - lo))
    return problem
