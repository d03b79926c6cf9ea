"""``hwsim sweep``: simulate a design space (hardware axes x models x precisions) and write its table and plots."""

from __future__ import annotations

from .common import add_common, check_output_folder, jobs_int, note, positive_int, progress


def add_parser(sub) -> None:
    """Register the command."""
    p = sub.add_parser("sweep", help="simulate hardware x models x precisions; table, Pareto fronts, heat map",
                       description="Simulate every point of a sweep spec (a base config, axes over its fields, "
                                   "models, precisions; a grid or a random / Latin-hypercube sample), on a process "
                                   "pool or Ray; write DIR/sweep.parquet, DIR/sweep.csv and plots. An interrupted "
                                   "sweep resumes: points already in DIR are skipped. Prints each model's "
                                   "latency-area (or latency-energy) Pareto front.")
    p.add_argument("spec", metavar="SPEC.yaml", help="the sweep spec: a file, or a shipped example by name (sweep_bitfusion)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (reused to resume)")
    p.add_argument("--jobs", type=jobs_int, help="worker processes (default: all cores)")
    p.add_argument("--ray", action="store_true", help="run the tasks on a local Ray (pip install 'hwsim[ray]')")
    p.add_argument("--ray-address", metavar="ADDR", help="run on the Ray cluster at ADDR (a head node's host:6379, or ray://host:10001)")
    p.add_argument("--samples", type=positive_int, help="override the spec's samples (a random subset of the grid)")
    p.add_argument("--max-points", type=positive_int, metavar="N",
                   help="refuse a sweep of more than N points (default 10,000,000; the driver holds 16 bytes a point)")
    p.add_argument("--no-plots", action="store_true", help="write the tables only")
    p.add_argument("--force", action="store_true", help="write through a symbolic link at DIR")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Run the sweep, print the fronts, say where the files are."""
    import os
    from pathlib import Path

    from hwsim.explore.frontier import pareto_mask
    from hwsim.explore.spec import MAX_POINTS, load_spec
    from hwsim.explore.sweep import run_sweep

    spec = load_spec(args.spec, samples=args.samples, max_points=args.max_points or MAX_POINTS)
    check_output_folder(args.output, args.force)
    jobs = args.jobs or os.cpu_count() or 1
    if args.ray or args.ray_address:  # before any output: without Ray the error is the only line
        from hwsim.explore.executors import check_ray_address, require_ray

        require_ray()
        if args.ray_address:
            check_ray_address(args.ray_address)
    n = len(spec.indices())
    where = (f"on the Ray cluster at {args.ray_address}" if args.ray_address else
             f"{jobs} Ray CPUs" if args.ray else f"{jobs} processes")
    result = run_sweep(spec, Path(args.output), jobs=jobs, ray=args.ray, ray_address=args.ray_address,
                       progress=progress(args), plots=not args.no_plots,
                       started=lambda: note(f"sweep: {n:,} points ({spec.grid_size:,} in the grid, {spec.sampling}), "
                                            f"{where}"))
    import numpy as np
    import pyarrow as pa

    axes = [a.name for a in spec.axes]
    cols = ["model", "precision"] + axes + ["latency_ms", "energy_uj", "area_mm2", "utilization"]
    table = result.read(cols)
    n = table.num_rows
    x = "area_mm2" if n and table.column("area_mm2").null_count < n else "energy_uj"
    has_x = bool(n) and table.column(x).null_count < n
    print(f"Pareto front of latency vs {x} per model ({n} points):" if has_x else
          f"Fastest point per model ({n} points; this target has no area or energy model):")
    print("  ".join(cols))
    models = np.array(table.column("model").to_pylist(), dtype=object)
    lat = table.column("latency_ms").to_numpy(zero_copy_only=False).astype(float)
    xs = table.column(x).to_numpy(zero_copy_only=False).astype(float) if has_x else np.zeros(n)
    for model in dict.fromkeys(models.tolist()):
        rows = np.flatnonzero(models == model)
        front = rows[pareto_mask(xs[rows], lat[rows])]
        for r in table.take(pa.array(front[np.argsort(lat[front], kind="stable")])).to_pylist():
            print("  ".join(_cell(r[c]) for c in cols))
    rate = result.simulated / result.seconds if result.seconds > 0 else 0.0
    note(f"wrote {args.output}/sweep.parquet, sweep.csv" + (f" and {len(result.plots)} plot files"
                                                          if result.plots else "")
         + f": {result.simulated:,} points simulated ({rate:,.0f}/s), {result.reused:,} found from an "
           f"earlier run, {result.seconds:.1f} s")
    return 0


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)
