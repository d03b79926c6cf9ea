"""``hwsim problem``: a search problem from a lookup table and a sensitivity table."""

from __future__ import annotations

from .common import add_common, check_output_file, finite_float, note


def add_parser(sub) -> None:
    """Register the command."""
    p = sub.add_parser("problem", help="build a search problem from a lookup table and a sensitivity table",
                       description="Combine a hwsim-lut/2 table and a hwsim-sensitivity/2 table into a problem file.")
    p.add_argument("--lut", required=True, metavar="FILE", help="lookup table JSON (hwsim lut -o)")
    p.add_argument("--sensitivity", required=True, metavar="FILE", help="sensitivity JSON (hwsim sensitivity -o)")
    p.add_argument("--metric", choices=("latency", "size", "energy", "bops"), default="latency",
                   help="what the budget limits: latency (ms), size (weight bytes), energy (uJ, systolic targets) or "
                        "bops (bit operations, MACs x w x a, hardware-independent)")
    p.add_argument("--budget", type=finite_float, required=True, help="the budget, in --budget-unit")
    p.add_argument("--budget-unit", choices=("fraction", "ms", "bytes", "uJ", "BOPs"), default="fraction",
                   help="fraction of the way from the cheapest to the dearest cost (default), ms, bytes, uJ or BOPs")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--force", action="store_true", help="write through a symbolic link at FILE")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Build and write the problem."""
    import json

    from hwsim.io import write_atomic
    from hwsim.search.build import problem_from_tables, read_json
    from hwsim.search.problem import check_feasible

    check_output_file(args)
    problem = problem_from_tables(read_json(args.lut, "lookup table"), read_json(args.sensitivity, "sensitivity"),
                                  args.budget, args.budget_unit, args.metric, sources=(args.lut, args.sensitivity))
    check_feasible(problem)  # a problem no assignment can meet is refused before it is written
    written = write_atomic(args.output, json.dumps(problem.to_json(), indent=1, allow_nan=False) + "\n", args.force)
    note(f"wrote {written}: {problem.n_layers} layers, choices {', '.join(problem.choices)}, budget "
         f"{problem.budget:.6g} {problem.cost_unit} (cheapest {problem.cheapest_cost():.6g})")
    return 0
