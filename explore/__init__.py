"""Design-space exploration: sweeps over hardware x models x precisions (``hwsim sweep``).

``spec`` reads and validates a sweep spec and enumerates its points; ``run`` is the one pure function
point -> record; ``executors`` map it over chunks of points on a process pool or Ray; ``store`` writes
the records in chunks (so an interrupted sweep resumes) and merges them into ``sweep.parquet`` and
``sweep.csv``; ``frontier`` finds Pareto fronts; ``plots`` draws them.  It imports the simulator only.
"""
