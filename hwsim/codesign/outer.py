"""The outer loop of the joint co-design: which chips of a hardware space get the inner bit search.

Both strategies take ``evaluate(points) -> records`` (one inner search per chip, see :mod:`hwsim.codesign.joint`)
and the area of a point (known without simulation), and return the records of every chip they evaluated.

- :func:`every_chip`: every point of the space (its grid or its sample) within the area budget.
- :func:`nsga2_chips`: pymoo's NSGA-II over the axes' value indices (integer genes), minimising the inner
  search's predicted loss and the chip's area, with the area budget and the inner search's infeasibility
  (latency or energy over budget) as constraints.  Each generation's new chips are evaluated as one batch
  (so the process pool stays busy); a chip seen before is not evaluated again; chips over the area budget
  are never simulated.  For spaces too large to enumerate.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from hwsim.explore.spec import SweepSpec

# the objective of a chip no bits fit on (pymoo ranks it by its constraint violation first)
_UNUSABLE = 1e9


def every_chip(space: SweepSpec, evaluate: Callable, area_of: Callable, area_mm2: float | None) -> list[dict]:
    """The inner search on every chip of the space within the area budget."""
    kept = [p for p in space.points() if area_mm2 is None or area_of(p) <= area_mm2]
    return evaluate(kept)


def nsga2_chips(space: SweepSpec, evaluate: Callable, area_of: Callable, area_mm2: float | None,
                population: int, generations: int, seed: int, log: Callable = lambda msg: None) -> list[dict]:
    """The inner search on the chips NSGA-II visits (at most ``population x generations`` distinct chips)."""
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem as PymooProblem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.optimize import minimize

    sizes = np.array([len(a.values) for a in space.axes], dtype=np.int64)
    upper = sizes - 1
    seen: dict[int, dict] = {}  # point index -> record (chips over the area budget: area only)
    generation = [0]

    def index_of(genes: np.ndarray) -> int:
        return space.index_of([int(g) for g in genes] + [0, 0])

    class _Chips(PymooProblem):
        def __init__(self):
            super().__init__(n_var=len(sizes), n_obj=2, n_ieq_constr=2, xl=0, xu=upper, vtype=int)

        def _evaluate(self, x, out, *args, **kwargs):
            indices = [index_of(g) for g in np.clip(np.rint(x).astype(np.int64), 0, upper)]
            fresh = []
            for i in dict.fromkeys(indices):
                if i in seen:
                    continue
                point = space.point(i)
                area = area_of(point)
                if area_mm2 is not None and area > area_mm2:
                    seen[i] = {"index": i, "area_mm2": area, "feasible": False, "violation": 0.0, "over_area": True}
                else:
                    fresh.append(point)
            for rec in evaluate(fresh):
                seen[rec["index"]] = rec
            generation[0] += 1
            searched = sum(1 for r in seen.values() if not r.get("over_area"))
            log(f"  generation {generation[0]}/{generations}: {len(fresh)} new chips searched, {searched} in all")
            recs = [seen[i] for i in indices]
            out["F"] = np.array([[r.get("predicted_loss", _UNUSABLE) if r["feasible"] else _UNUSABLE, r["area_mm2"]]
                                 for r in recs])
            out["G"] = np.array([[0.0 if area_mm2 is None else r["area_mm2"] / area_mm2 - 1.0, r["violation"]]
                                 for r in recs])

    algorithm = NSGA2(pop_size=population, sampling=IntegerRandomSampling(),
                      crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
                      mutation=PM(eta=20, vtype=float, repair=RoundingRepair()), eliminate_duplicates=True)
    minimize(_Chips(), algorithm, ("n_gen", generations), seed=seed, verbose=False)
    return [r for r in seen.values() if not r.get("over_area")]
