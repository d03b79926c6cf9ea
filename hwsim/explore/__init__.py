"""Design-space exploration: sweeps over hardware x models x precisions (``hwsim sweep``).

``spec`` reads and validates a sweep spec and enumerates its points; ``run`` is the one pure function
point -> record; ``executors`` map it over chunks of points on a process pool or Ray; ``store`` writes
the records in chunks (so an interrupted sweep resumes) and merges them into ``sweep.parquet`` and
``sweep.csv``; ``frontier`` finds Pareto fronts; ``plots`` draws them.  It imports the simulator only.

Entry points: :func:`load_spec` (a spec file or a shipped example's name -> :class:`SweepSpec`) and
:func:`run_sweep` (-> :class:`SweepResult`, whose ``read()`` gives the table).
"""

from hwsim._lazy import lazy_exports

_EXPORTS = {"load_spec": ".spec", "SweepSpec": ".spec", "run_sweep": ".sweep", "SweepResult": ".sweep"}
__all__ = ["load_spec", "SweepSpec", "run_sweep", "SweepResult"]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
