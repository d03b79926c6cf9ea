"""Mixed-precision bit-width search: a problem (per layer and bit choice, a cost from a lookup table and a
sensitivity) solved under a budget.  It sees numbers only: no torch, no simulator.

Entry points (each loads its module on first use):

* :func:`problem_from_tables` (a lookup table + a sensitivity table + a budget), :func:`problem_from_dict`,
  :func:`load_problem`: the :class:`Problem`;
* :func:`solve_exact` (MILP, HiGHS) and :func:`solve_ga` (the paper's genetic algorithm, :class:`GAConfig`):
  a :class:`Solution` whose ``assignment`` maps layer -> ``"w4a8"``;
* :func:`pareto_nsga2` (NSGA-II over two or more objectives) and :func:`exact_front`.
"""

from hwsim._lazy import lazy_exports

_EXPORTS = {
    "Problem": ".problem", "problem_from_dict": ".problem", "load_problem": ".problem",
    "check_feasible": ".problem", "problem_from_tables": ".build", "solve_exact": ".exact", "solve_ga": ".ga",
    "GAConfig": ".ga", "Solution": ".solution", "pareto_nsga2": ".multi", "exact_front": ".multi",
}
__all__ = ["Problem", "problem_from_dict", "load_problem", "check_feasible", "problem_from_tables", "solve_exact",
           "solve_ga", "GAConfig", "Solution", "pareto_nsga2", "exact_front"]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
