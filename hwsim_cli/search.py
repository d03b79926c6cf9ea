"""``hwsim search``: per-layer bits minimising predicted loss under a budget (GA or exact MILP)."""

from __future__ import annotations

from .common import add_common, check_output_file, note


def add_parser(sub) -> None:
    """Register the command."""
    p = sub.add_parser("search", help="find per-layer bit-widths minimising predicted loss under a budget",
                       description="Solve a problem file with the genetic algorithm (BRECQ Alg. 2, seeded, repaired "
                                   "and polished) or the exact MILP; print the assignment per layer.")
    p.add_argument("--problem", required=True, metavar="FILE")
    p.add_argument("--solver", choices=("ga", "exact"), default="ga")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--objectives", metavar="LIST",
                   help="comma list of two or more of loss, cost and the problem's metrics (latency, size, energy "
                        "from 'hwsim problem'): print the Pareto set instead (ga: NSGA-II; exact: a budget sweep "
                        "through the MILP, two objectives with loss)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="what standard output shows")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="also write the result JSON here; its 'assignment' is a bits file for simulate/lut/quantize")
    p.add_argument("--force", action="store_true", help="write through a symbolic link at FILE")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Solve, print the assignment, and write the result."""
    import json
    import sys

    from hwsim.io import write_atomic
    from search.exact import solve_exact
    from search.ga import solve_ga
    from search.problem import check_feasible, load_problem

    check_output_file(args)
    problem = load_problem(args.problem)
    check_feasible(problem)
    if args.objectives:
        return _pareto(args, problem)
    sol = solve_ga(problem, args.seed) if args.solver == "ga" else solve_exact(problem)
    doc = json.dumps(sol.to_json(), indent=1) + "\n"
    if args.output:
        written = write_atomic(args.output, doc, args.force)
        note(f"{args.solver}: objective {sol.objective:.6g}, cost {sol.cost:.6g} of budget {problem.budget:.6g} "
             f"{problem.cost_unit}, {'feasible' if sol.feasible else 'INFEASIBLE'}, {sol.seconds:.3f} s -> {written}")
    sys.stdout.write(sol.table(problem) if args.format == "table" else doc)
    return 0


def _pareto(args, problem) -> int:
    """The multi-objective search: a front of non-dominated assignments."""
    import json
    import sys

    from hwsim.errors import HwsimError
    from hwsim.io import write_atomic
    from search.multi import check_objectives, exact_front, pareto_nsga2

    objectives = [o.strip() for o in args.objectives.split(",") if o.strip()]
    check_objectives(problem, objectives)
    if args.solver == "exact":
        if len(objectives) != 2 or objectives[0] != "loss":
            raise HwsimError(f"--solver exact sweeps one budget: objectives loss,<one other>, got {args.objectives}")
        front = exact_front(problem, objectives[1])
    else:
        front = pareto_nsga2(problem, objectives, args.seed)
    doc = json.dumps(front.to_json(), indent=1) + "\n"
    if args.output:
        written = write_atomic(args.output, doc, args.force)
        note(f"{front.solver}: {len(front.points)} non-dominated points of {', '.join(objectives)}, "
             f"{front.seconds:.2f} s -> {written}")
    sys.stdout.write(front.table() if args.format == "table" else doc)
    return 0
