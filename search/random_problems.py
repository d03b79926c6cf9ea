"""Seeded random problems shaped like the paper's (20-60 layers, 3 choices, intra-block 2-bit pairs).

Used by the tests and by benchmarks/bench_search.py to compare the GA with the exact optimum.
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
