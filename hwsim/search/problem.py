"""The search problem (a public contract): per-layer choices with costs and sensitivities, pair terms, a budget.

JSON (``hwsim search --problem P.json``)::

    {"choices": ["w2a8", "w4a8", "w8a8"], "budget": 12.5,
     "layers": [{"name": "layer1.0.conv1", "block": "layer1.0",
                 "cost": {"w2a8": 0.41, "w4a8": 0.63, "w8a8": 1.0},
                 "sensitivity": {"w2a8": 0.9, "w4a8": 0.05, "w8a8": 0.001}}, ...],
     "pairs": [{"a": "layer1.0.conv1", "b": "layer1.0.conv2", "choice_a": "w2a8", "choice_b": "w2a8",
                "sensitivity": 0.3}, ...]}

Objective of an assignment: the sum of each layer's sensitivity at its choice, plus every pair
term whose two choices are both taken.  Cost: the sum of the layers' costs, plus the cost of the
layers outside the search (optional ``"fixed": {"cost": 0.3, "assignment": {"conv1": "w8a8"}}``,
e.g. layers a precision policy pins); feasible when it does not exceed the budget.  ``block`` is
optional, and so is a top-level ``"cost_unit"`` (e.g. "ms", "bytes") used for labels.  Optional
per-layer ``"metrics": {"energy": {"w2a8": 0.3, ...}, ...}`` (the same names for every layer, with
``"fixed": {..., "metrics": {"energy": 0.1}}`` for the fixed layers) are further costs a
multi-objective search (:mod:`hwsim.search.multi`) can minimise.  Optional
``"act_groups": [["layer2.0.conv1", "layer2.0.downsample.0"], ...]`` lists layers that read one
tensor: every assignment gives the layers of a group the same activation bits (the hardware
stores the tensor once).  Search sees numbers only: no torch, no simulator.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from hwsim.errors import HwsimError
from hwsim.io import load_json, read_text
from hwsim.precision import is_label, parse_label

@dataclasses.dataclass
class Problem:
    """Arrays of a problem: ``cost`` and ``sens`` are (layers x choices); pairs are parallel index arrays."""

    choices: list[str]
    budget: float
    names: list[str]
    blocks: list[str | None]
    cost: np.ndarray
    sens: np.ndarray
    pair_a: np.ndarray
    pair_b: np.ndarray
    pair_ca: np.ndarray
    pair_cb: np.ndarray
    pair_s: np.ndarray
    cost_unit: str = ""  # optional: what the costs measure, e.g. "ms" or "bytes" (axis labels)
    fixed_cost: float = 0.0  # cost of the layers outside the search (in every assignment's cost)
    fixed: dict[str, str] = dataclasses.field(default_factory=dict)  # their labels (in every assignment)
    act_groups: list[list[int]] = dataclasses.field(default_factory=list)  # layer indices sharing activation bits
    metrics: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)  # more per-choice tables (energy, ...)
    fixed_metrics: dict[str, float] = dataclasses.field(default_factory=dict)  # their fixed layers' share

    @property
    def wbits(self) -> np.ndarray:
        """Weight bits of each choice."""
        return np.array([parse_label(c).w for c in self.choices])

    @property
    def abits(self) -> np.ndarray:
        """Activation bits of each choice."""
        return np.array([parse_label(c).a for c in self.choices])

    def cheapest_genes(self) -> np.ndarray:
        """The lowest-cost assignment that respects the activation groups."""
        genes = self.cost.argmin(axis=1)
        ab = self.abits
        for group in self.act_groups:
            best = None
            for a in np.unique(ab):
                ok = ab == a
                picks = [int(np.argmin(np.where(ok, self.cost[l], np.inf))) for l in group]
                total = sum(self.cost[l, k] for l, k in zip(group, picks))
                if best is None or total < best[0]:
                    best = (total, picks)
            genes[group] = best[1]
        return genes

    @property
    def n_layers(self) -> int:
        """Number of layers."""
        return len(self.names)

    def cheapest_cost(self) -> float:
        """The lowest cost any assignment can have."""
        return float(self.evaluate(self.cheapest_genes())[1][0])

    def dearest_cost(self) -> float:
        """The highest cost any assignment can have (groups ignored: an upper bound)."""
        return float(self.cost.max(axis=1).sum()) + self.fixed_cost

    def evaluate(self, genes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(objective, cost) of assignments ``genes`` (P x layers of choice indices), vectorised."""
        genes = np.atleast_2d(genes)
        rows = np.arange(self.n_layers)
        obj = self.sens[rows, genes].sum(axis=1)
        cost = self.cost[rows, genes].sum(axis=1) + self.fixed_cost
        if len(self.pair_s):
            hit = (genes[:, self.pair_a] == self.pair_ca) & (genes[:, self.pair_b] == self.pair_cb)
            obj = obj + hit @ self.pair_s
        return obj, cost

    def measure(self, genes: np.ndarray, name: str) -> np.ndarray:
        """Per assignment: ``"loss"`` (the objective), ``"cost"``, or the sum of metric ``name`` (fixed layers included)."""
        genes = np.atleast_2d(genes)
        if name == "loss":
            return self.evaluate(genes)[0]
        if name == "cost":
            return self.evaluate(genes)[1]
        return self.metrics[name][np.arange(self.n_layers), genes].sum(axis=1) + self.fixed_metrics.get(name, 0.0)

    def as_cost(self, name: str, budget: float | None = None) -> "Problem":
        """The same problem with metric ``name`` as its cost (and ``budget``, default unlimited)."""
        if name == "cost":
            return self if budget is None else self.with_budget(budget)
        return dataclasses.replace(self, cost=self.metrics[name], fixed_cost=self.fixed_metrics.get(name, 0.0),
                                   budget=float(np.inf if budget is None else budget), cost_unit=name)

    def assignment(self, genes: np.ndarray) -> dict[str, str]:
        """Layer name -> choice label (the fixed layers included)."""
        return {**self.fixed, **{n: self.choices[int(g)] for n, g in zip(self.names, genes)}}

    def genes_of(self, assignment: dict[str, str]) -> np.ndarray:
        """Choice indices of an assignment given as layer -> label."""
        index = {c: i for i, c in enumerate(self.choices)}
        return np.array([index[assignment[n]] for n in self.names])

    def with_budget(self, budget: float) -> "Problem":
        """The same problem under another budget."""
        return dataclasses.replace(self, budget=float(budget))

    def to_json(self) -> dict:
        """The JSON document of this problem."""
        layers = []
        for i, n in enumerate(self.names):
            rec = {"name": n}
            if self.blocks[i] is not None:
                rec["block"] = self.blocks[i]
            rec["cost"] = {c: float(self.cost[i, k]) for k, c in enumerate(self.choices)}
            rec["sensitivity"] = {c: float(self.sens[i, k]) for k, c in enumerate(self.choices)}
            if self.metrics:
                rec["metrics"] = {m: {c: float(t[i, k]) for k, c in enumerate(self.choices)}
                                  for m, t in self.metrics.items()}
            layers.append(rec)
        pairs = [{"a": self.names[a], "b": self.names[b], "choice_a": self.choices[ca], "choice_b": self.choices[cb],
                  "sensitivity": float(s)}
                 for a, b, ca, cb, s in zip(self.pair_a, self.pair_b, self.pair_ca, self.pair_cb, self.pair_s)]
        doc = {"choices": list(self.choices), "budget": self.budget, "layers": layers, "pairs": pairs}
        if self.cost_unit:
            doc["cost_unit"] = self.cost_unit
        if self.fixed or self.fixed_cost or self.fixed_metrics:
            doc["fixed"] = {"cost": self.fixed_cost, "assignment": dict(self.fixed)}
            if self.fixed_metrics:
                doc["fixed"]["metrics"] = dict(self.fixed_metrics)
        if self.act_groups:
            doc["act_groups"] = [[self.names[i] for i in g] for g in self.act_groups]
        return doc


def _fail(source: str, field: str, value: Any, allowed: str) -> HwsimError:
    return HwsimError(f"{source}: field '{field}': got {value!r}; allowed: {allowed}")


MAX_VALUE = 1e18  # any number of a problem or table (ms, bytes, uJ, BOPs, sensitivities): at most this in size
MAX_LAYERS = 10_000  # layers of a problem (a large LLM has about 600 linear layers)


def _number(v: Any) -> bool:
    """A finite real number (not a bool) of at most MAX_VALUE in size (a huge int is refused, not overflowed)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    return -MAX_VALUE <= v <= MAX_VALUE  # False for NaN; exact for ints of any size


def problem_from_dict(doc: Any, source: str = "<problem>") -> Problem:
    """Validate a parsed problem document; every error names the field."""
    if not isinstance(doc, dict):
        raise HwsimError(f"{source}: expected a JSON object with choices, budget, layers (and pairs)")
    for key in doc:
        if key not in ("choices", "budget", "layers", "pairs", "cost_unit", "fixed", "act_groups"):
            raise _fail(source, key, doc[key], "known fields are choices, budget, layers, pairs, cost_unit, fixed, "
                                               "act_groups")
    if not isinstance(doc.get("cost_unit", ""), str):
        raise _fail(source, "cost_unit", doc["cost_unit"], "a string such as \"ms\" or \"bytes\"")
    for key in ("choices", "budget", "layers"):
        if key not in doc:
            raise HwsimError(f"{source}: field '{key}' is missing")
    choices = doc["choices"]
    if not isinstance(choices, list) or not choices or not all(is_label(c) for c in choices):
        raise _fail(source, "choices", choices, "a non-empty list of labels w<bits>a<bits>, e.g. [\"w2a8\", \"w8a8\"]")
    if len(set(choices)) != len(choices):
        raise _fail(source, "choices", choices, "distinct labels")
    if not _number(doc["budget"]) or doc["budget"] < 0:
        raise _fail(source, "budget", doc["budget"], f"a number from 0 to {MAX_VALUE:g}")
    layers = doc["layers"]
    if not isinstance(layers, list) or not layers:
        raise _fail(source, "layers", layers, "a non-empty list of layer records")
    if len(layers) > MAX_LAYERS:
        raise HwsimError(f"{source}: field 'layers': {len(layers):,} records; allowed: at most {MAX_LAYERS:,}")
    names, blocks = [], []
    cost = np.zeros((len(layers), len(choices)))
    sens = np.zeros((len(layers), len(choices)))
    metrics: dict[str, np.ndarray] = {}
    for i, rec in enumerate(layers):
        where = f"layers[{i}]"
        if not isinstance(rec, dict):
            raise _fail(source, where, rec, "an object with name, cost, sensitivity (and block)")
        for key in rec:
            if key not in ("name", "block", "cost", "sensitivity", "metrics"):
                raise _fail(source, f"{where}.{key}", rec[key], "known fields are name, block, cost, sensitivity, "
                                                                "metrics")
        if not isinstance(rec.get("name"), str) or not rec["name"]:
            raise _fail(source, f"{where}.name", rec.get("name"), "a non-empty string")
        if rec["name"] in names:
            raise _fail(source, f"{where}.name", rec["name"], "a name no other layer has")
        if "block" in rec and not isinstance(rec["block"], str):
            raise _fail(source, f"{where}.block", rec["block"], "a string")
        for key, table in (("cost", cost), ("sensitivity", sens)):
            m = rec.get(key)
            if not isinstance(m, dict) or set(m) != set(choices):
                raise _fail(source, f"{where}.{key}", m, f"an object with exactly the choices {choices} as keys")
            for k, c in enumerate(choices):
                if not _number(m[c]) or (key == "cost" and m[c] < 0):
                    raise _fail(source, f"{where}.{key}.{c}", m[c],
                                f"a number from {0 if key == 'cost' else -MAX_VALUE:g} to {MAX_VALUE:g}")
                table[i, k] = m[c]
        mrec = rec.get("metrics", {})
        if not isinstance(mrec, dict) or (i and set(mrec) != set(metrics)) or "loss" in mrec or "cost" in mrec:
            raise _fail(source, f"{where}.metrics", mrec, "an object of metric name -> {choice: value}, the same "
                                                          "names for every layer (not 'loss' or 'cost')")
        for m, table in mrec.items():
            if not isinstance(table, dict) or set(table) != set(choices) or not all(
                    _number(table[c]) and table[c] >= 0 for c in choices):
                raise _fail(source, f"{where}.metrics.{m}", table, f"an object with the choices {choices} as keys "
                                                                   f"and values from 0 to {MAX_VALUE:g}")
            metrics.setdefault(m, np.zeros((len(layers), len(choices))))[i] = [table[c] for c in choices]
        names.append(rec["name"])
        blocks.append(rec.get("block"))
    index = {n: i for i, n in enumerate(names)}
    cidx = {c: k for k, c in enumerate(choices)}
    pa, pb, pca, pcb, ps = [], [], [], [], []
    pairs = doc.get("pairs", [])
    if not isinstance(pairs, list):
        raise _fail(source, "pairs", pairs, "a list of pair records")
    for j, rec in enumerate(pairs):
        where = f"pairs[{j}]"
        if not isinstance(rec, dict) or set(rec) != {"a", "b", "choice_a", "choice_b", "sensitivity"}:
            raise _fail(source, where, rec, "an object with exactly a, b, choice_a, choice_b, sensitivity")
        for key in ("a", "b"):
            if not isinstance(rec[key], str) or rec[key] not in index:
                raise _fail(source, f"{where}.{key}", rec[key], "the name of a layer in 'layers'")
        if rec["a"] == rec["b"]:
            raise _fail(source, f"{where}.b", rec["b"], "a layer other than 'a'")
        for key in ("choice_a", "choice_b"):
            if not isinstance(rec[key], str) or rec[key] not in cidx:
                raise _fail(source, f"{where}.{key}", rec[key], f"one of {choices}")
        if not _number(rec["sensitivity"]):
            raise _fail(source, f"{where}.sensitivity", rec["sensitivity"], f"a number of at most {MAX_VALUE:g} in size")
        pa.append(index[rec["a"]])
        pb.append(index[rec["b"]])
        pca.append(cidx[rec["choice_a"]])
        pcb.append(cidx[rec["choice_b"]])
        ps.append(float(rec["sensitivity"]))
    fixed = doc.get("fixed", {"cost": 0.0, "assignment": {}})
    fixed_metrics = fixed.get("metrics", {}) if isinstance(fixed, dict) else None
    if not isinstance(fixed, dict) or not {"cost", "assignment"} <= set(fixed) <= {"cost", "assignment", "metrics"} \
            or not _number(fixed["cost"]) or fixed["cost"] < 0 or not isinstance(fixed["assignment"], dict) \
            or not isinstance(fixed_metrics, dict) or set(fixed_metrics) - set(metrics) \
            or not all(_number(v) and v >= 0 for v in fixed_metrics.values()):
        raise _fail(source, "fixed", fixed, "an object {\"cost\": number >= 0, \"assignment\": {layer: label}} "
                                            "and optionally \"metrics\": {metric of the layers: number >= 0}")
    for n, lab in fixed["assignment"].items():
        if n in index or not is_label(lab):
            raise _fail(source, f"fixed.assignment.{n}", lab, "a label w<bits>a<bits> for a layer not in 'layers'")
    groups = doc.get("act_groups", [])
    seen: set[str] = set()
    if not isinstance(groups, list):
        raise _fail(source, "act_groups", groups, "a list of lists of layer names")
    for j, g in enumerate(groups):
        if not isinstance(g, list) or len(g) < 2 or any(not isinstance(n, str) or n not in index or n in seen
                                                          for n in g) or len(set(g)) != len(g):
            raise _fail(source, f"act_groups[{j}]", g, "two or more names of layers in 'layers', each in one group")
        seen.update(g)
    ints = lambda v: np.array(v, dtype=np.int64)
    return Problem(list(choices), float(doc["budget"]), names, blocks, cost, sens, ints(pa), ints(pb), ints(pca),
                   ints(pcb), np.array(ps, dtype=float), doc.get("cost_unit", ""), float(fixed["cost"]),
                   dict(fixed["assignment"]), [[index[n] for n in g] for g in groups], metrics,
                   {m: float(v) for m, v in fixed_metrics.items()})


def load_problem(path: str | Path) -> Problem:
    """Read and validate a problem file."""
    p = Path(path)
    return problem_from_dict(load_json(read_text(p, "problem file"), p), str(p))


def check_feasible(problem: Problem) -> None:
    """Raise a clear error when even the cheapest assignment exceeds the budget."""
    cheapest = problem.cheapest_cost()
    if cheapest > problem.budget * (1 + 1e-12):
        unit = f" {problem.cost_unit}" if problem.cost_unit else ""
        raise HwsimError(f"budget {problem.budget:g}{unit} is infeasible: the cheapest assignment costs {cheapest:g}{unit}; "
                         f"allowed: a budget of at least {cheapest:g}{unit}")
