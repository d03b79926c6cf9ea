"""``hwsim sensitivity``: per-layer (and intra-block pair) sensitivities for the search, on held-out data."""

from __future__ import annotations

from hwsim.errors import HwsimError

from .common import add_common, add_model_source, check_output_file, note, progress

ALL_CHOICES = "w2a2,w2a4,w2a8,w4a2,w4a4,w4a8,w8a2,w8a4,w8a8"


def add_parser(sub) -> None:
    """Register the command."""
    p = sub.add_parser("sensitivity", help="per-layer and intra-block pair sensitivities for the search",
                       description="Reconstruct uniformly at each choice, then measure on held-out data what "
                                   "quantizing each layer alone costs (and each 2-bit pair inside a block), with "
                                   "95% intervals.")
    add_model_source(p)
    p.add_argument("--choices", default=ALL_CHOICES, help="comma-separated bit choices (default: all nine of w2..8 x a2..8)")
    p.add_argument("--metric", choices=("kl", "loss"), default="kl",
                   help="kl (default): KL divergence to the FP output; loss: task-loss increase (the paper's)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="sensitivity JSON to write")
    p.add_argument("--force", action="store_true", help="write through a symbolic link at FILE")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Measure and write the table."""
    import json

    from hwsim.io import write_atomic
    from hwsim.precision import PrecisionPolicy, parse_label
    from quant.sensitivity import measure_sensitivity
    from quant.sources import load_model_and_data

    choices = [parse_label(c) for c in args.choices.split(",") if c.strip()]
    if not choices or len(set(choices)) != len(choices):
        raise HwsimError(f"--choices {args.choices!r}: give distinct labels such as w2a2,w4a4,w8a8")
    for w, a in choices:
        if not (2 <= w <= 8 and 2 <= a <= 8):
            raise HwsimError(f"choice w{w}a{a}: bits must be 2..8")
    check_output_file(args)
    model, data = load_model_and_data(args.model, args.checkpoint, args.data, seed=args.seed, progress=progress(args))
    table = measure_sensitivity(model, data.calib_x, data.calib_y, data.holdout_x, data.holdout_y, data.test_x,
                                data.test_y, choices, args.method, args.granularity, args.objective, args.iters,
                                args.seed, args.model, progress(args), PrecisionPolicy(args.policy),
                                metric=args.metric)
    written = write_atomic(args.output, json.dumps(table, indent=1) + "\n", args.force)
    proj = table["projection"]
    note(f"wrote {written}: {len(table['layers'])} layers x {len(choices)} choices ({len(table['pinned'])} pinned by "
         f"policy {table['policy']}), {len(table['pairs'])} significant pairs ({table['pairs_dropped']} within noise "
         f"dropped); projection fixed {proj['negative']} negative entries and {proj['order_violations']} order "
         f"violations")
    return 0
