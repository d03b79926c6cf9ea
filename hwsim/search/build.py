"""Problems built from the project's own tables: a ``hwsim-lut/2`` table and a ``hwsim-sensitivity/2`` table."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hwsim.errors import HwsimError
from hwsim.io import load_json, read_text

from hwsim.precision import is_label

from .problem import MAX_LAYERS, MAX_VALUE, Problem, _number

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
    """A JSON object from a file (strict: no NaN, no key given twice), or a clear error naming it."""
    p = Path(path)
    doc = load_json(read_text(p, f"{what} file"), p)
    if not isinstance(doc, dict):
        raise HwsimError(f"{p}: expected a JSON object (a hwsim {what} table), got {type(doc).__name__}")
    return doc


def _bad(source: str, field: str, value, allowed: str) -> HwsimError:
    shown = repr(value)
    return HwsimError(f"{source}: field '{field}': got {shown if len(shown) < 80 else shown[:77] + '...'}; "
                      f"allowed: {allowed}")


def _labels(source: str, field: str, value) -> list:
    if not isinstance(value, list) or not value or not all(is_label(c) for c in value) \
            or len(set(value)) != len(value):
        raise _bad(source, field, value, "a non-empty list of distinct labels w<bits>a<bits>")
    return value


def _count(source: str, field: str, count: int) -> None:
    if count > MAX_LAYERS:
        raise HwsimError(f"{source}: field '{field}': {count:,} layers; allowed: at most {MAX_LAYERS:,}")


def _priced(source: str, field: str, table, choices: list, lo: float) -> None:
    """``table`` maps every choice to a number in [lo, MAX_VALUE]."""
    if not isinstance(table, dict) or not set(choices) <= set(table) or not all(
            _number(table[c]) and table[c] >= lo for c in choices):
        raise _bad(source, field, table, f"an object mapping each of {', '.join(choices)} to a number from {lo:g} to "
                                         f"{MAX_VALUE:g}")


def check_lut(lut: dict, source: str = "lookup table") -> None:
    """The fields of a hwsim-lut/2 table that a problem reads, with their types and ranges (one error if not)."""
    if lut.get("format") != "hwsim-lut/2":
        raise _bad(source, "format", lut.get("format"), "'hwsim-lut/2' (remake older tables with hwsim lut)")
    choices = _labels(source, "choices", lut.get("choices"))
    layers = lut.get("layers")
    if not isinstance(layers, list) or not layers:
        raise _bad(source, "layers", layers, "a non-empty list of layer records")
    _count(source, "layers", len(layers))
    seen = set()
    for i, row in enumerate(layers):
        if not isinstance(row, dict) or not isinstance(row.get("name"), str) or not row["name"] or row["name"] in seen:
            raise _bad(source, f"layers[{i}]", row, "a record with a name no other layer has")
        seen.add(row["name"])
        for field in [f for f, _unit in METRICS.values()] + ["latency_cycles"]:
            if field in row:
                _priced(source, f"layers[{i}].{field}", row[field], choices, 0)
        for count in ("macs", "weights"):
            if count in row and not (_number(row[count]) and row[count] >= 0):
                raise _bad(source, f"layers[{i}].{count}", row[count], f"a number from 0 to {MAX_VALUE:g}")
    pinned = lut.get("pinned", {})
    if not isinstance(pinned, dict) or not all(is_label(v) for v in pinned.values()):
        raise _bad(source, "pinned", pinned, "an object of layer name -> label")


def check_sensitivity(sens: dict, source: str = "sensitivity table") -> None:
    """The fields of a hwsim-sensitivity/2 table that a problem reads, with their types and ranges."""
    if sens.get("format") != "hwsim-sensitivity/2":
        raise _bad(source, "format", sens.get("format"), "'hwsim-sensitivity/2' (remake older tables with hwsim "
                                                          "sensitivity)")
    choices = _labels(source, "choices", sens.get("choices"))
    layers = sens.get("layers")
    if not isinstance(layers, dict) or not layers:
        raise _bad(source, "layers", layers, "a non-empty object of layer name -> {choice: sensitivity}")
    _count(source, "layers", len(layers))
    for name, table in layers.items():
        _priced(source, f"layers.{name}", table, choices, -MAX_VALUE)
    pinned = sens.get("pinned", {})
    if not isinstance(pinned, dict) or not all(is_label(v) for v in pinned.values()):
        raise _bad(source, "pinned", pinned, "an object of layer name -> label")
    blocks = sens.get("blocks", {})
    if not isinstance(blocks, dict) or not all(isinstance(v, str) for v in blocks.values()):
        raise _bad(source, "blocks", blocks, "an object of layer name -> block name")
    pairs = sens.get("pairs", [])
    if not isinstance(pairs, list):
        raise _bad(source, "pairs", pairs, "a list of pair records")
    for j, rec in enumerate(pairs):
        if not (isinstance(rec, dict) and {"a", "b", "choice_a", "choice_b", "sensitivity"} <= set(rec)
                and rec["a"] in layers and rec["b"] in layers and rec["a"] != rec["b"]
                and rec["choice_a"] in choices and rec["choice_b"] in choices and _number(rec["sensitivity"])):
            raise _bad(source, f"pairs[{j}]", rec, "{a, b: two layers of 'layers'; choice_a, choice_b: choices; "
                                                   f"sensitivity: a number of at most {MAX_VALUE:g} in size}}")
    groups = sens.get("act_groups", [])
    if not isinstance(groups, list) or not all(
            isinstance(g, list) and len(g) >= 2 and all(isinstance(n, str) and (n in layers or n in pinned) for n in g)
            for g in groups):
        raise _bad(source, "act_groups", groups, "a list of lists of two or more layer names")


def problem_from_tables(lut: dict, sensitivity: dict, budget: float, budget_unit: str = "fraction",
                        metric: str = "latency", sources: tuple[str, str] = ("lookup table", "sensitivity table")
                        ) -> Problem:
    """The search problem over the choices both tables have; budget in ms, bytes, or a fraction of the range.

    A fraction f means cheapest + f x (dearest - cheapest) cost.  Both tables are checked first (types,
    ranges, the same model); a budget must be a number from 0 to 1e18.  ``sources`` name the
    tables in errors.  (Whether the budget is feasible is the caller's question: see ``check_feasible``.)
    """
    check_lut(lut, sources[0])
    check_sensitivity(sensitivity, sources[1])
    if not _number(budget) or budget < 0:
        raise HwsimError(f"budget {budget!r}; allowed: a number from 0 to {MAX_VALUE:g}")
    if lut.get("model") and sensitivity.get("model") and lut["model"] != sensitivity["model"]:
        raise HwsimError(f"the lookup table is for model {lut['model']!r} and the sensitivity table for "
                         f"{sensitivity['model']!r}: make both for the same model")
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
