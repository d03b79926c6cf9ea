"""Seeded random search problems: the paper's shape, and the shape ``hwsim pipeline`` builds.

Used by the tests and by ``benchmarks/search_quality.py`` to
compare the GA with the exact optimum.
"""

from __future__ import annotations

import numpy as np

from .problem import Problem, problem_from_dict


def paper_like(n_layers: int, seed: int, budget_fraction: float = 0.5) -> Problem:
    """Costs shrink with weight bits (1 : 0.6 : 0.4), sensitivities grow steeply at 2 bits, pairs per 2-layer block."""
    rng = np.random.default_rng(seed)
    layers = []
    for i in range(n_layers):
        base = rng.uniform(0.2, 2.0)
        s2 = rng.lognormal(-1, 1)
        layers.append({"name": f"l{i}", "block": f"b{i // 2}",
                       "cost": {"w2a8": 0.4 * base, "w4a8": 0.6 * base, "w8a8": base},
                       "sensitivity": {"w2a8": s2, "w4a8": s2 * rng.uniform(0.02, 0.2), "w8a8": s2 * 1e-3}})
    pairs = [{"a": f"l{2 * b}", "b": f"l{2 * b + 1}", "choice_a": "w2a8", "choice_b": "w2a8",
              "sensitivity": float(rng.normal(0.2, 0.3))} for b in range(n_layers // 2)]
    lo = sum(layer["cost"]["w2a8"] for layer in layers)
    hi = sum(layer["cost"]["w8a8"] for layer in layers)
    return problem_from_dict({"choices": ["w2a8", "w4a8", "w8a8"], "budget": lo + budget_fraction * (hi - lo),
                              "layers": layers, "pairs": pairs})


def _bit_loss(rng, bits: tuple[int, ...]) -> dict[int, float]:
    """A loss increase per bit-width: tiny at 8 bits, a random fraction at 4, the full amount at 2."""
    full = rng.lognormal(-1, 1)
    table = {8: full * rng.uniform(2e-4, 2e-3), 4: full * rng.uniform(0.02, 0.25), 2: full}
    return {b: table[b] for b in bits}


def pipeline_like(n_layers: int, n_choices: int, budget_fraction: float, seed: int, energy: bool = False) -> Problem:
    """A problem shaped like the pipeline's: hardware-table costs, weight and activation losses, pairs, groups.

    ``n_choices`` 3 (w2a8, w4a8, w8a8) or 9 (w x a in {2, 4, 8}^2).  A layer's latency mixes a
    compute part that scales with w x a (Bit Fusion) and a memory part that scales with the bits it
    moves, in a random proportion, plus a fixed overhead.  Losses add a weight and an activation term;
    two-layer blocks carry BRECQ's off-diagonal term when both layers take 2-bit weights; with 9
    choices every sixth layer shares its input with the next (an activation group).  The budget sits
    at ``budget_fraction`` of the way from the cheapest to the dearest assignment.  ``energy`` adds an
    energy metric (from its own random stream, so the rest of the problem is the same): the compute
    part scales with w x a as latency does, the data part with the bits moved, in another proportion.
    """
    if n_choices not in (3, 9):
        raise ValueError("n_choices must be 3 or 9")
    rng = np.random.default_rng(seed)
    pairs_wa = [(w, 8) for w in (2, 4, 8)] if n_choices == 3 else [(w, a) for w in (2, 4, 8) for a in (2, 4, 8)]
    choices = [f"w{w}a{a}" for w, a in pairs_wa]
    layers, groups = [], []
    for i in range(n_layers):
        base = rng.lognormal(0, 0.8)
        mem = rng.uniform(0.05, 0.7)
        w_mem, a_mem = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)
        cost = {c: base * ((1 - mem) * (w * a) / 64 + mem * (w_mem * w / 8 + a_mem * a / 8) + 0.03)
                for c, (w, a) in zip(choices, pairs_wa)}
        lw, la = _bit_loss(rng, (2, 4, 8)), _bit_loss(rng, (2, 4, 8))
        sens = {c: lw[w] + (0.5 * la[a] if n_choices == 9 else 0.0) for c, (w, a) in zip(choices, pairs_wa)}
        layers.append({"name": f"l{i}", "block": f"b{i // 2}", "cost": cost, "sensitivity": sens})
        if n_choices == 9 and i % 6 == 1 and i + 1 < n_layers:
            groups.append([f"l{i}", f"l{i + 1}"])
    pairs = [{"a": f"l{2 * b}", "b": f"l{2 * b + 1}", "choice_a": c, "choice_b": d,
              "sensitivity": float(rng.normal(0.1, 0.2))}
             for b in range(n_layers // 2) for c in choices for d in choices
             if c.startswith("w2") and d.startswith("w2") and rng.random() < 0.5]
    if energy:
        er = np.random.default_rng([seed, 1])
        for layer in layers:
            e, data = er.lognormal(0, 0.8), er.uniform(0.3, 0.9)
            layer["metrics"] = {"energy": {c: e * ((1 - data) * (w * a) / 64 + data * (w + a) / 16)
                                           for c, (w, a) in zip(choices, pairs_wa)}}
    doc = {"choices": choices, "budget": 0.0, "layers": layers, "pairs": pairs, "act_groups": groups}
    p = problem_from_dict(doc)
    lo, hi = p.cheapest_cost(), float(p.cost.max(axis=1).sum())
    return p.with_budget(lo + budget_fraction * (hi - lo))


def quality_instances(count: int, first_seed: int = 0):
    """``count`` seeded (description, problem) pairs of varied size, choices and budget tightness."""
    for seed in range(first_seed, first_seed + count):
        rng = np.random.default_rng(10_000 + seed)
        n = int(rng.integers(20, 121))
        k = 3 if seed % 2 == 0 else 9
        tight = seed % 4 in (0, 1)
        frac = float(rng.uniform(0.05, 0.3) if tight else rng.uniform(0.4, 0.85))
        yield f"{n} layers, {k} choices, {'tight' if tight else 'loose'} budget ({frac:.2f})", \
            pipeline_like(n, k, frac, seed)
