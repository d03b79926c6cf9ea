"""The ``hwsim`` command line: parses, calls the library, prints.  Bad input exits with code 2."""

from __future__ import annotations

import argparse
import sys

from .errors import HwsimError

FORMATS = ("table", "json", "csv")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _add_workload_args(p) -> None:
    p.add_argument("--hw", required=True, metavar="CONFIG", help="hardware config: hwsim YAML or SCALE-Sim .cfg")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", metavar="NAME", help="architecture name (resnet18, resnet50, mobilenet_v2, regnet_x_600mf)")
    src.add_argument("--topology", metavar="CSV", help="SCALE-Sim topology CSV (conv or GEMM rows)")
    p.add_argument("--input-size", type=_positive_int, default=224, metavar="PX", help="input height and width (default 224)")
    p.add_argument("--batch", type=_positive_int, default=1, help="batch size (default 1)")


def _load_workload(args):
    """(hardware config, layers, input shape) from the common arguments."""
    from .config import load_config
    from .workload import layers_from_model_name, layers_from_topology

    hw = load_config(args.hw)
    shape = (args.batch, 3, args.input_size, args.input_size)
    if args.model == "digits-resnet":  # the embedded quantization default (1 x 16 x 16 inputs)
        from quant.digits_model import RECIPE, DigitsResNet

        from .workload import layers_from_module

        shape = (args.batch, 1, 16, 16)
        return hw, layers_from_module(DigitsResNet(tuple(RECIPE["widths"]), RECIPE["blocks"]), shape), shape
    if args.model:
        return hw, layers_from_model_name(args.model, shape), shape
    return hw, layers_from_topology(args.topology), ()


def _emit(text: str, output: str | None, summary: str) -> None:
    from .io import write_atomic

    if output:
        write_atomic(output, text)
        print(f"wrote {output} ({summary})", file=sys.stderr)
    else:
        sys.stdout.write(text)


def _add_simulate(sub) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate a network layer by layer on a hardware config",
        description="Simulate every conv/linear layer of a network on the hardware and print per-layer cycles.",
    )
    _add_workload_args(p)
    p.add_argument("--wbits", type=int, metavar="B", help="weight bits for every layer (default 8)")
    p.add_argument("--abits", type=int, metavar="B", help="activation bits for every layer (default 8)")
    p.add_argument("--bits", metavar="FILE", help="per-layer bits: JSON/YAML mapping layer -> w4a8 (and optional default)")
    p.add_argument("--dataflow", choices=("os", "ws", "is"), help="override the config's dataflow")
    p.add_argument("--whole-network", action="store_true",
                   help="requantize each layer's outputs to the next layer's activation bits (default: its own)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (atomically) instead of standard output")
    p.set_defaults(func=_cmd_simulate)


def _cmd_simulate(args) -> int:
    from .precision import load_bits_file
    from .targets import simulate_network

    if args.bits and (args.wbits or args.abits):
        raise HwsimError("give either --bits FILE or --wbits/--abits, not both")
    hw, layers, _ = _load_workload(args)
    if args.dataflow:
        if hw.kind != "systolic":
            raise HwsimError(f"--dataflow applies to systolic arrays; {hw.name} is of kind {hw.kind!r}")
        hw = hw.with_dataflow(args.dataflow)
    if args.bits:
        bits = load_bits_file(args.bits, [layer.name for layer in layers])
    else:
        bits = (args.wbits or 8, args.abits or 8)
    result = simulate_network(layers, hw, bits, whole_network=args.whole_network)
    text = {"table": result.to_table, "json": result.to_json, "csv": result.to_csv}[args.format]()
    _emit(text, args.output, f"{len(result.layers)} layers, {result.total_cycles:,} cycles, {result.latency_ms:.3f} ms")
    return 0


def _add_lut(sub) -> None:
    p = sub.add_parser(
        "lut",
        help="build the latency/size lookup table of every layer at every supported bit pair",
        description="Latency (cycles, ms) and weight size of every layer at every (w, a) pair the hardware supports, "
                    "cached on disk; includes an additivity check against whole-network simulation.",
    )
    _add_workload_args(p)
    p.add_argument("--format", choices=("json", "table"), help="json (default with -o) or table (default without)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (atomically) instead of standard output")
    p.add_argument("--jobs", type=_positive_int, help="parallel layer simulations (default: all cores)")
    p.add_argument("--cache-dir", metavar="DIR", help="where tables are cached (default $HWSIM_CACHE_DIR or ~/.cache/hwsim)")
    p.add_argument("--no-cache", action="store_true", help="build afresh and do not write the cache")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--policy", choices=("first-last-8bit", "none"), default="first-last-8bit",
                   help="precision policy for the totals (default first-last-8bit: first and last layer at w8a8)")
    p.set_defaults(func=_cmd_lut)


def _cmd_lut(args) -> int:
    import json
    from pathlib import Path

    from .lut import build_lut, cached_lut, lut_to_table
    from .precision import PrecisionPolicy

    hw, layers, shape = _load_workload(args)
    model = args.model or Path(args.topology).stem
    policy = PrecisionPolicy(args.policy)
    if args.no_cache:
        doc, status = build_lut(layers, hw, model, shape, args.jobs, not args.quiet, policy), "built (cache off)"
    else:
        doc, status = cached_lut(layers, hw, model, shape, Path(args.cache_dir) if args.cache_dir else None,
                                 args.jobs, not args.quiet, policy)
    print(f"lut: {status}", file=sys.stderr)
    fmt = args.format or ("json" if args.output else "table")
    text = json.dumps(doc, indent=1) + "\n" if fmt == "json" else lut_to_table(doc)
    worst = max((abs(a["error_pct"]) for a in doc["additivity"]), default=0.0)
    _emit(text, args.output, f"{len(doc['layers'])} layers x {len(doc['choices'])} pairs; "
                             f"additivity error up to {worst:.3f}%")
    return 0


def _add_quant_source(p) -> None:
    p.add_argument("--model", default="digits-resnet",
                   help="digits-resnet (default: embedded digits data, trained once and cached) or an architecture "
                        "name used with --checkpoint and --data")
    p.add_argument("--checkpoint", metavar="FILE", help="state dict of the model's FP weights")
    p.add_argument("--data", metavar="DIR", help="ImageFolder root with train/ (calibration) and val/ (test)")
    p.add_argument("--method", choices=("brecq", "adaround", "rtn"), default="brecq",
                   help="brecq (default), adaround (layer-wise AdaRound) or rtn (round to nearest)")
    p.add_argument("--granularity", choices=("layer", "block", "stage", "net"), default="block")
    p.add_argument("--objective", choices=("fisher", "mse"), default="fisher")
    p.add_argument("--iters", type=_positive_int, default=500, help="iterations per unit (paper: 20000; default 500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_quantize(sub) -> None:
    p = sub.add_parser("quantize", help="post-training quantization by block reconstruction (BRECQ)",
                       description="Quantize a model with BRECQ (or the AdaRound / round-to-nearest baselines), "
                                   "print FP and quantized top-1, and save the model and OUT/summary.json.")
    _add_quant_source(p)
    p.add_argument("--wbits", type=int, metavar="B", help="weight bits for every layer")
    p.add_argument("--abits", type=int, metavar="B", help="activation bits for every layer")
    p.add_argument("--bits", metavar="FILE", help="per-layer bits: JSON/YAML mapping layer -> w4a8 (optional default)")
    p.add_argument("--policy", choices=("first-last-8bit", "none"), default="first-last-8bit",
                   help="precision policy: first-last-8bit (default: first and last layer w8a8, as in BRECQ) or none")
    p.add_argument("--per-tensor", action="store_true", help="one weight scale per layer (default: per output channel)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (resumes from its checkpoints)")
    p.set_defaults(func=_cmd_quantize)


def _cmd_quantize(args) -> int:
    from pathlib import Path

    import torch

    from quant.api import quantize, save_quantized
    from quant.integer import integer_execution
    from quant.qmodel import quantizable_names
    from quant.sources import load_model_and_data

    from .precision import PrecisionPolicy, load_bits_file

    if args.bits and (args.wbits or args.abits):
        raise HwsimError("give either --bits FILE or --wbits/--abits, not both")
    if not args.bits and not (args.wbits and args.abits):
        raise HwsimError("give --wbits B and --abits B (2..8), or --bits FILE")
    for flag, b in (("--wbits", args.wbits), ("--abits", args.abits)):
        if b is not None and not 2 <= b <= 8:
            raise HwsimError(f"{flag} {b}: allowed 2..8")
    model, data = load_model_and_data(args.model, args.checkpoint, args.data, seed=args.seed, progress=not args.quiet)
    if args.bits:
        bits = load_bits_file(args.bits, quantizable_names(model))
    else:
        bits = (args.wbits, args.abits)
    out = Path(args.output)
    result = quantize(model, data.calib_x, data.calib_y, data.test_x, data.test_y, bits, args.method,
                      args.granularity, args.objective, args.iters, args.seed, PrecisionPolicy(args.policy),
                      checkpoint_dir=out / "checkpoints", progress=not args.quiet, per_channel=not args.per_tensor)
    for note in result.notes:
        print(f"hwsim: note: {note}", file=sys.stderr)
    report = integer_execution(result.qmodel, data.calib_x, data.test_x, data.test_y)
    save_quantized(result, out, model=args.model, data=data.name, method=args.method, granularity=args.granularity,
                   objective=args.objective, iters=args.iters, seed=args.seed, per_channel=not args.per_tensor,
                   top1_agreement=report.top1_agreement, max_logit_error=report.max_logit_error,
                   integer=report.to_json())
    print(f"FP top-1 {100 * result.fp_accuracy:.2f}%  quantized top-1 {100 * result.quant_accuracy:.2f}%  "
          f"integer top-1 {100 * report.integer_top1:.2f}% (agrees on {100 * report.top1_agreement:.2f}%, "
          f"max logit error {report.max_logit_error:.3g})  "
          f"({args.method}, {args.granularity}, {args.objective}, {result.seconds:.1f} s) -> {out}")
    return 0


def _add_sensitivity(sub) -> None:
    p = sub.add_parser("sensitivity", help="per-layer and intra-block pair sensitivities for the search",
                       description="Reconstruct uniformly at each choice, then measure the loss increase of "
                                   "quantizing each layer alone, and of each 2-bit pair inside a block.")
    _add_quant_source(p)
    p.add_argument("--choices", default="w2a2,w2a4,w2a8,w4a2,w4a4,w4a8,w8a2,w8a4,w8a8",
                   help="comma-separated bit choices (default: all nine of w2..8 x a2..8)")
    p.add_argument("--metric", choices=("kl", "loss"), default="kl",
                   help="kl (default): KL divergence to the FP output; loss: task-loss increase (the paper's)")
    p.add_argument("--policy", choices=("first-last-8bit", "none"), default="first-last-8bit",
                   help="precision policy (default first-last-8bit: those layers are pinned, not measured)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="sensitivity JSON to write")
    p.set_defaults(func=_cmd_sensitivity)


def _cmd_sensitivity(args) -> int:
    import json

    from quant.sensitivity import measure_sensitivity
    from quant.sources import load_model_and_data

    from .io import write_atomic
    from .precision import PrecisionPolicy, parse_label

    choices = [parse_label(c) for c in args.choices.split(",") if c.strip()]
    for w, a in choices:
        if not (2 <= w <= 8 and 2 <= a <= 8):
            raise HwsimError(f"choice w{w}a{a}: bits must be 2..8")
    model, data = load_model_and_data(args.model, args.checkpoint, args.data, seed=args.seed, progress=not args.quiet)
    table = measure_sensitivity(model, data.calib_x, data.calib_y, data.holdout_x, data.holdout_y, data.test_x,
                                data.test_y, choices, args.method, args.granularity, args.objective, args.iters,
                                args.seed, args.model, not args.quiet, PrecisionPolicy(args.policy),
                                metric=args.metric)
    write_atomic(args.output, json.dumps(table, indent=1) + "\n")
    proj = table["projection"]
    print(f"wrote {args.output}: {len(table['layers'])} layers x {len(choices)} choices ({len(table['pinned'])} "
          f"pinned by policy {table['policy']}), {len(table['pairs'])} significant pairs ({table['pairs_dropped']} "
          f"within noise dropped); projection fixed {proj['negative']} negative entries and "
          f"{proj['order_violations']} order violations")
    return 0


def _add_problem(sub) -> None:
    p = sub.add_parser("problem", help="build a search problem from a lookup table and a sensitivity table",
                       description="Combine a hwsim-lut/2 table and a hwsim-sensitivity/2 table into a problem file.")
    p.add_argument("--lut", required=True, metavar="FILE", help="lookup table JSON (hwsim lut -o)")
    p.add_argument("--sensitivity", required=True, metavar="FILE", help="sensitivity JSON (hwsim sensitivity -o)")
    p.add_argument("--metric", choices=("latency", "size"), default="latency", help="what the budget limits")
    p.add_argument("--budget", type=float, required=True, help="the budget, in --budget-unit")
    p.add_argument("--budget-unit", choices=("fraction", "ms", "bytes"), default="fraction",
                   help="fraction of the way from all-lowest to all-highest cost (default), ms or bytes")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.set_defaults(func=_cmd_problem)


def _cmd_problem(args) -> int:
    import json

    from search.build import problem_from_tables, read_json

    from .io import write_atomic

    problem = problem_from_tables(read_json(args.lut, "lookup table"), read_json(args.sensitivity, "sensitivity"),
                                  args.budget, args.budget_unit, args.metric)
    write_atomic(args.output, json.dumps(problem.to_json(), indent=1) + "\n")
    print(f"wrote {args.output}: {problem.n_layers} layers, choices {', '.join(problem.choices)}, "
          f"budget {problem.budget:.6g} {problem.cost_unit} (cheapest {problem.cheapest_cost():.6g})")
    return 0


def _add_search(sub) -> None:
    p = sub.add_parser("search", help="find per-layer bit-widths minimising predicted loss under a budget",
                       description="Solve a problem file with the genetic algorithm (BRECQ Alg. 2) or the exact MILP.")
    p.add_argument("--problem", required=True, metavar="FILE")
    p.add_argument("--solver", choices=("ga", "exact"), default="ga")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="result JSON")
    p.set_defaults(func=_cmd_search)


def _cmd_search(args) -> int:
    import json

    from search.exact import solve_exact
    from search.ga import solve_ga
    from search.problem import check_feasible, load_problem

    from .io import write_atomic

    problem = load_problem(args.problem)
    check_feasible(problem)
    sol = solve_ga(problem, args.seed) if args.solver == "ga" else solve_exact(problem)
    write_atomic(args.output, json.dumps(sol.to_json(), indent=1) + "\n")
    print(f"{args.solver}: objective {sol.objective:.6g}, cost {sol.cost:.6g} of budget {problem.budget:.6g} "
          f"{problem.cost_unit}, {'feasible' if sol.feasible else 'INFEASIBLE'}, {sol.seconds:.3f} s -> {args.output}")
    return 0


def _add_pareto(sub) -> None:
    p = sub.add_parser("pareto", help="sweep budgets and plot predicted loss against cost",
                       description="Solve a problem at evenly spaced budgets; write pareto.csv, pareto.png and "
                                   "pareto.svg with the uniform-precision points marked.")
    p.add_argument("--problem", required=True, metavar="FILE", help="problem file (its budget is ignored)")
    p.add_argument("--points", type=_positive_int, default=10)
    p.add_argument("--solver", choices=("ga", "exact"), default="exact")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--title", default="", help="plot title (default: the problem file name)")
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    p.set_defaults(func=_cmd_pareto)


def _cmd_pareto(args) -> int:
    from pathlib import Path

    from search.pareto import plot, sweep, to_csv, uniform_points
    from search.problem import load_problem

    from .io import write_atomic

    problem = load_problem(args.problem)
    rows = sweep(problem, args.points, args.solver, args.seed)
    uniform = uniform_points(problem)
    out = Path(args.output)
    write_atomic(out / "pareto.csv", to_csv(rows, uniform))
    unit = {"ms": "latency (ms)", "bytes": "weight size (bytes)"}.get(problem.cost_unit, problem.cost_unit or "cost")
    plot(rows, uniform, out / "pareto", args.title or Path(args.problem).stem, unit)
    print(f"wrote {out}/pareto.csv, pareto.png, pareto.svg ({len(rows)} budgets)")
    return 0


def _add_pipeline(sub) -> None:
    p = sub.add_parser("pipeline", help="the whole co-design flow: tables, sensitivities, search, quantize, validate, "
                                        "report",
                       description="Build latency tables per target, run uniform BRECQ and sensitivities, search "
                                   "mixed precision at several latency budgets per target, quantize each choice, "
                                   "validate (accuracy, re-simulated latency, integer execution) and write a report.")
    p.add_argument("--model", default="digits-resnet")
    p.add_argument("--checkpoint", metavar="FILE")
    p.add_argument("--data", metavar="DIR")
    p.add_argument("--hw", action="append", metavar="CONFIG",
                   help="hardware config (repeatable; default: the paper's accelerator and the Cortex-A53)")
    p.add_argument("--budgets", type=float, nargs="+", metavar="F",
                   help="latency budgets as fractions of the range from the cheapest to the dearest assignment "
                        "(default: one in the middle of each of the first --gaps gaps of the uniform front)")
    p.add_argument("--gaps", type=_positive_int, default=3,
                   help="without --budgets: how many gaps of the uniform accuracy-latency front get a budget (default 3)")
    p.add_argument("--choices", metavar="LIST",
                   help="comma-separated (w, a) choices per layer (default all nine of w2..8 x a2..8)")
    p.add_argument("--policy", choices=("first-last-8bit", "none"), default="first-last-8bit",
                   help="precision policy (default first-last-8bit: first and last layer pinned at w8a8)")
    p.add_argument("--iters", type=_positive_int, default=200, help="reconstruction iterations per unit (default 200)")
    p.add_argument("--threads", type=_positive_int, default=2,
                   help="torch threads (default 2; fixed so that results do not depend on the core count)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/pipeline", metavar="DIR")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_pipeline)


def _cmd_pipeline(args) -> int:
    from pathlib import Path

    from codesign.pipeline import DEFAULT_HW, PipelineConfig, run_pipeline
    from codesign.report import summary_line, write_report

    choices = tuple(c.strip() for c in args.choices.split(",") if c.strip()) if args.choices else \
        PipelineConfig.choices
    cfg = PipelineConfig(model=args.model, checkpoint=args.checkpoint, data=args.data,
                         hw=tuple(args.hw or DEFAULT_HW), budgets=tuple(args.budgets or ()),
                         choices=choices, iters=args.iters, seed=args.seed, out=args.out, policy=args.policy,
                         threads=args.threads, gaps=args.gaps)
    results = run_pipeline(cfg, progress=not args.quiet)
    write_report(results, Path(args.out))
    print(summary_line(results))
    print(f"report: {Path(args.out) / 'report.md'} (and summary.md, report.html, results.json, pareto.csv, plots, "
          f"configs/*.yaml)", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="hwsim", description="Hardware-in-the-loop quantization co-design toolkit.")
    parser.add_argument("--version", action="version", version=f"hwsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_simulate(sub)
    _add_lut(sub)
    _add_quantize(sub)
    _add_sensitivity(sub)
    _add_problem(sub)
    _add_search(sub)
    _add_pareto(sub)
    _add_pipeline(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hwsim`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except HwsimError as exc:
        print(f"hwsim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hwsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
