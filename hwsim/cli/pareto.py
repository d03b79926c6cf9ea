"""``hwsim pareto``: solve at evenly spaced budgets; CSV and plots of predicted loss against cost."""

from __future__ import annotations

from .common import add_common, check_output_folder, int_in, note, seed_int


def add_parser(sub) -> None:
    """Register the command."""
    p = sub.add_parser("pareto", help="sweep budgets and plot predicted loss against cost",
                       description="Solve a problem at evenly spaced budgets; write pareto.csv, pareto.png and "
                                   "pareto.svg with the uniform-precision points marked.")
    p.add_argument("--problem", required=True, metavar="FILE", help="problem file (its budget is ignored)")
    p.add_argument("--points", type=int_in(1, 1000), default=10)
    p.add_argument("--solver", choices=("ga", "exact"), default="exact")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--title", default="", help="plot title (default: the problem file name)")
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    p.add_argument("--force", action="store_true", help="write through a symbolic link at DIR")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Sweep, then write the CSV and the plots."""
    from pathlib import Path

    from hwsim.errors import HwsimError
    from hwsim.io import write_atomic
    from hwsim.search.pareto import plot, sweep, to_csv, uniform_points
    from hwsim.search.problem import load_problem

    if len(args.title) > 200 or any(ord(c) < 32 for c in args.title):
        raise HwsimError(f"--title of {len(args.title):,} characters; allowed: one line of at most 200 characters")
    check_output_folder(args.output, args.force)
    problem = load_problem(args.problem)
    rows = sweep(problem, args.points, args.solver, args.seed)
    uniform = uniform_points(problem)
    out = Path(args.output)
    write_atomic(out / "pareto.csv", to_csv(rows, uniform))
    unit = {"ms": "latency (ms)", "bytes": "weight size (bytes)"}.get(problem.cost_unit, problem.cost_unit or "cost")
    plot(rows, uniform, out / "pareto", args.title or Path(args.problem).stem, unit)
    note(f"wrote {out}/pareto.csv, pareto.png, pareto.svg ({len(rows)} budgets)")
    return 0
