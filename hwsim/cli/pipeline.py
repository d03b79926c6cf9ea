"""``hwsim pipeline``: the whole co-design flow, from tables to the validated report."""

from __future__ import annotations

from .common import (POLICIES, add_arm_options, add_common, add_trust_checkpoint, finite_float, add_sensitivity_method, check_output_folder, note,
                     int_in, progress, seed_int, sensitivity_options)


def add_parser(sub) -> None:
    """Register the command."""
    p = sub.add_parser("pipeline", help="the whole co-design flow: tables, sensitivities, search, quantize, validate, "
                                        "report",
                       description="Build latency tables per target, run uniform BRECQ and sensitivities, search "
                                   "mixed precision per target, quantize each choice, validate (accuracy, "
                                   "re-simulated latency, integer execution) and write a report.")
    p.add_argument("--model", default="digits-resnet")
    p.add_argument("--checkpoint", metavar="FILE")
    add_trust_checkpoint(p)
    p.add_argument("--data", metavar="DIR")
    p.add_argument("--hw", action="append", metavar="CONFIG",
                   help="hardware config: a shipped name or a file (repeatable; default: bitfusion_16x32 and "
                        "cortex_a53_rpi3b, the paper's accelerator and the Cortex-A53)")
    p.add_argument("--budgets", type=finite_float, nargs="+", metavar="F",
                   help="latency budgets as fractions of the range from the cheapest to the dearest assignment "
                        "(default: one in the middle of each of the first --gaps gaps of the uniform front)")
    p.add_argument("--gaps", type=int_in(1, 100), default=3,
                   help="without --budgets: how many gaps of the uniform accuracy-latency front get a budget (default 3)")
    p.add_argument("--choices", metavar="LIST",
                   help="comma-separated (w, a) choices per layer (default all nine of w2..8 x a2..8)")
    p.add_argument("--policy", choices=POLICIES, default="first-last-8bit",
                   help="precision policy (default first-last-8bit: first and last layer pinned at w8a8)")
    p.add_argument("--iters", type=int_in(1, 1_000_000), default=200, help="reconstruction iterations per unit (default 200)")
    add_sensitivity_method(p, "--sensitivity-method")
    add_arm_options(p, "every ARM target")
    p.add_argument("--torch-threads", type=int_in(1, 256), default=2,
                   help="torch threads of this machine (default 2; fixed so that results do not depend on its "
                        "core count)")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--out", default="out/pipeline", metavar="DIR")
    p.add_argument("--force", action="store_true", help="write through a symbolic link at DIR")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Run the pipeline, write the report, print the summary line."""
    from pathlib import Path

    from hwsim.codesign.pipeline import DEFAULT_HW, PipelineConfig, run_pipeline
    from hwsim.codesign.report import summary_line, write_report

    choices = tuple(c.strip() for c in args.choices.split(",") if c.strip()) if args.choices else \
        PipelineConfig.choices
    check_output_folder(args.out, args.force)
    cfg = PipelineConfig(model=args.model, checkpoint=args.checkpoint, trust_checkpoint=args.trust_checkpoint, data=args.data,
                         hw=tuple(args.hw or DEFAULT_HW), budgets=tuple(args.budgets or ()), gaps=args.gaps,
                         choices=choices, iters=args.iters, seed=args.seed, out=args.out, policy=args.policy,
                         torch_threads=args.torch_threads, arm_threads=args.threads, arm_clock_mhz=args.clock_mhz,
                         sensitivity_method=args.sensitivity_method,
                         sensitivity_options=tuple(sorted(sensitivity_options(args).items())))
    results = run_pipeline(cfg, progress=progress(args))
    write_report(results, Path(args.out))
    print(summary_line(results))
    note(f"report: {Path(args.out) / 'report.md'} (and summary.md, report.html, results.json, pareto.csv, plots, "
         f"configs/*.yaml)")
    return 0
