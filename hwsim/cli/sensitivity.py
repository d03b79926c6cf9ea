"""``hwsim sensitivity``: the per-layer sensitivity table the search reads, by one of several methods."""

from __future__ import annotations

from hwsim.errors import HwsimError

from .common import (add_common, add_model_source, add_sensitivity_method, check_output_file, note, progress,
                     sensitivity_options)

ALL_CHOICES = "w2a2,w2a4,w2a8,w4a2,w4a4,w4a8,w8a2,w8a4,w8a8"


def add_parser(sub) -> None:
    """Register the command."""
    p = sub.add_parser("sensitivity", help="per-layer sensitivity table for the search (brecq, first_order, hawq, "
                                           "limpq)",
                       description="Predict, per layer and bit choice, the loss quantizing that layer adds. brecq "
                                   "(default): reconstruct uniformly at each choice, then measure on held-out data "
                                   "what quantizing each layer alone costs (and each 2-bit pair inside a block), "
                                   "with 95% intervals. first_order: expected gradient norm under a weight "
                                   "perturbation --k times the quantization error. hawq: Hutchinson Hessian traces "
                                   "times the squared quantization error. limpq: learned per-bit step sizes of a "
                                   "one-time quantization-aware training.")
    add_sensitivity_method(p, "--method")
    add_model_source(p, recon_flag="--recon-method")
    p.add_argument("--choices", default=ALL_CHOICES, help="comma-separated bit choices (default: all nine of w2..8 x a2..8)")
    p.add_argument("--metric", choices=("kl", "loss"), default="kl",
                   help="brecq: kl (default): KL divergence to the FP output; loss: task-loss increase (the paper's)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="sensitivity JSON to write")
    p.add_argument("--force", action="store_true", help="write through a symbolic link at FILE")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Measure and write the table."""
    import json
    import time

    from hwsim.io import write_atomic
    from hwsim.precision import PrecisionPolicy, parse_label
    from hwsim.quant.sensitivity import measure
    from hwsim.quant.sources import load_model_and_data

    choices = [parse_label(c) for c in args.choices.split(",") if c.strip()]
    if not choices or len(set(choices)) != len(choices):
        raise HwsimError(f"--choices {args.choices!r}: give distinct labels such as w2a2,w4a4,w8a8")
    for w, a in choices:
        if not (2 <= w <= 8 and 2 <= a <= 8):
            raise HwsimError(f"choice w{w}a{a}: bits must be 2..8")
    own = sensitivity_options(args)
    check_output_file(args)
    model, data = load_model_and_data(args.model, args.checkpoint, args.data, seed=args.seed,
                                      trust_checkpoint=args.trust_checkpoint, progress=progress(args))
    options = dict(iters=args.iters, recon_method=args.method, granularity=args.granularity, objective=args.objective,
                   metric=args.metric) if args.sensitivity_method == "brecq" else own
    start = time.perf_counter()
    table = measure(args.sensitivity_method, model, data, choices, PrecisionPolicy(args.policy), args.model, args.seed,
                    progress(args), **options)
    table.setdefault("seconds", time.perf_counter() - start)
    written = write_atomic(args.output, json.dumps(table, indent=1, allow_nan=False) + "\n", args.force)
    proj = table["projection"]
    if args.sensitivity_method == "brecq":
        note(f"wrote {written}: {len(table['layers'])} layers x {len(choices)} choices ({len(table['pinned'])} pinned "
             f"by policy {table['policy']}), {len(table['pairs'])} significant pairs ({table['pairs_dropped']} within "
             f"noise dropped); projection fixed {proj['negative']} negative entries and {proj['order_violations']} "
             f"order violations")
    else:
        note(f"wrote {written}: {args.sensitivity_method}, {len(table['layers'])} layers x {len(choices)} choices "
             f"({len(table['pinned'])} pinned by policy {table['policy']}); the monotone projection moved "
             f"{proj['moved']} entries; {table['seconds']:.1f} s")
    return 0
