"""``hwsim search``: per-layer bits minimising predicted loss under a budget (GA or exact MILP)."""

from __future__ import annotations

from .common import add_common, add_workload, check_output_file, load_workload, note, seed_int


def add_parser(sub) -> None:
    """Register the command."""
    p = sub.add_parser("search", help="find per-layer bit-widths minimising predicted loss under a budget",
                       description="Solve a problem file with the genetic algorithm (BRECQ Alg. 2, seeded, repaired "
                                   "and polished) or the exact MILP; print the assignment per layer.")
    p.add_argument("--problem", required=True, metavar="FILE")
    p.add_argument("--solver", choices=("ga", "exact"), default="ga")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--objectives", metavar="LIST",
                   help="comma list of two or more of loss, cost and the problem's metrics (latency, size, energy "
                        "from 'hwsim problem'): print the Pareto set instead (ga: NSGA-II; exact: a budget sweep "
                        "through the MILP, two objectives with loss)")
    p.add_argument("--resimulate", action="store_true",
                   help="hardware in the loop: price every candidate by re-simulating the whole network given by "
                        "--hw and --model/--topology (seeded with the exact answer on the additive table); the "
                        "result reports the table's error on the chosen and the table-optimal assignments")
    p.add_argument("--format", choices=("table", "json"), default="table", help="what standard output shows")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="also write the result JSON here; its 'assignment' is a bits file for simulate/lut/quantize")
    p.add_argument("--force", action="store_true", help="write through a symbolic link at FILE")
    add_workload(p, required=False)
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Solve, print the assignment, and write the result."""
    from hwsim.errors import HwsimError
    from hwsim.search.exact import solve_exact
    from hwsim.search.ga import solve_ga
    from hwsim.search.problem import check_feasible, load_problem

    check_output_file(args)
    problem = load_problem(args.problem)
    if args.resimulate:
        return _resimulated(args, problem)
    if args.hw or args.model or args.topology or args.onnx:
        raise HwsimError("--hw, --model, --topology and --onnx are for --resimulate")
    check_feasible(problem)
    if args.objectives is not None:
        return _pareto(args, problem)
    sol = solve_ga(problem, args.seed) if args.solver == "ga" else solve_exact(problem)
    return _emit(args, sol.table(problem), sol.to_json(),
                 f"{args.solver}: objective {sol.objective:.6g}, cost {sol.cost:.6g} of budget {problem.budget:.6g} "
                 f"{problem.cost_unit}, {'feasible' if sol.feasible else 'INFEASIBLE'}, {sol.seconds:.3f} s")


def _emit(args, table: str, doc: dict, summary: str) -> int:
    """The result document to -o (atomically, a note on stderr) and the table or the document on stdout."""
    import json
    import sys

    from hwsim.io import write_atomic

    text = json.dumps(doc, indent=1, allow_nan=False) + "\n"
    if args.output:
        note(f"{summary} -> {write_atomic(args.output, text, args.force)}")
    sys.stdout.write(table if args.format == "table" else text)
    return 0


def _pareto(args, problem) -> int:
    """The multi-objective search: a front of non-dominated assignments."""
    from hwsim.errors import HwsimError
    from hwsim.search.multi import check_objectives, exact_front, pareto_nsga2

    objectives = [o.strip() for o in args.objectives.split(",") if o.strip()]
    if len(objectives) < 2:
        raise HwsimError(f"--objectives {args.objectives[:80]!r}: allowed: two or more comma-separated objectives, "
                         f"e.g. loss,latency")
    check_objectives(problem, objectives)
    if args.solver == "exact":
        if len(objectives) != 2 or objectives[0] != "loss":
            raise HwsimError(f"--solver exact sweeps one budget: objectives loss,<one other>, got {args.objectives}")
        front = exact_front(problem, objectives[1])
    else:
        front = pareto_nsga2(problem, objectives, args.seed)
    return _emit(args, front.table(), front.to_json(),
                 f"{front.solver}: {len(front.points)} non-dominated points of {', '.join(objectives)}, "
                 f"{front.seconds:.2f} s")


def _resimulated(args, problem) -> int:
    """The GA with every candidate re-simulated as a whole network; the table's error reported."""
    from hwsim.codesign.resimulate import network_oracle, surrogate_gap
    from hwsim.errors import HwsimError
    from hwsim.search.exact import solve_exact
    from hwsim.search.ga import solve_ga
    from hwsim.search.problem import check_feasible

    if not args.hw or not (args.model or args.topology or args.onnx):
        raise HwsimError("--resimulate needs the network: --hw CONFIG and --model NAME or --topology CSV")
    if args.objectives or args.solver != "ga":
        raise HwsimError("--resimulate runs the GA on one objective (the exact solver needs an additive cost)")
    hw, layers, _ = load_workload(args)
    oracle = network_oracle(layers, hw, problem)
    seeds = []
    try:
        check_feasible(problem)
        surrogate = solve_exact(problem)
        seeds = [surrogate.assignment]
    except HwsimError:  # over budget in the table; the whole network may still fit
        surrogate = None
    sol = solve_ga(problem, args.seed, oracle=oracle, seeds=seeds)
    sol.details["resimulation"] = {"hardware": hw.name, "layers": len(layers),
                                   "chosen": surrogate_gap(problem, oracle, sol.assignment),
                                   "table_optimum": surrogate_gap(problem, oracle, surrogate.assignment)
                                   if surrogate else None}
    chosen = sol.details["resimulation"]["chosen"]
    note(f"re-simulated: chosen {chosen['network_ms']:.6g} ms (table sum {chosen['table_ms']:.6g}, "
         f"{chosen['error_pct']:+.2f}%)" + ("" if surrogate is None else
                                           f"; the table's optimum re-simulates to "
                                           f"{sol.details['resimulation']['table_optimum']['network_ms']:.6g} ms"))
    return _emit(args, sol.table(problem), sol.to_json(),
                 f"ga (re-simulated): objective {sol.objective:.6g}, {sol.cost:.6g} of budget {problem.budget:.6g} ms, "
                 f"{sol.details['oracle_calls']} network simulations, {sol.seconds:.2f} s")
