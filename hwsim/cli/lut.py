"""``hwsim lut``: the latency and size lookup table of every layer at every supported bit pair."""

from __future__ import annotations

from .common import POLICIES, add_common, add_output, add_workload, check_output_file, emit, load_workload, note, \
    jobs_int, progress


def add_parser(sub) -> None:
    """Register the command."""
    p = sub.add_parser("lut", help="build the latency/size lookup table of every layer at every supported bit pair",
                       description="Latency (cycles, ms) and weight size of every layer at every (w, a) pair the "
                                   "hardware supports, cached on disk; includes an additivity check against "
                                   "whole-network simulation.")
    add_workload(p)
    p.add_argument("--format", choices=("json", "table"), help="json (default with -o) or table (default without)")
    add_output(p)
    p.add_argument("--jobs", type=jobs_int, help="parallel layer simulations (default: all cores)")
    p.add_argument("--cache-dir", metavar="DIR", help="where tables are cached (default $HWSIM_CACHE_DIR or ~/.cache/hwsim)")
    p.add_argument("--no-cache", action="store_true", help="build afresh and do not write the cache")
    p.add_argument("--bits", metavar="FILE", help="also check this assignment (a bits file or an 'hwsim search' "
                                                  "result): its table sum against a whole-network simulation")
    p.add_argument("--policy", choices=POLICIES, default="first-last-8bit",
                   help="precision policy for the totals (default first-last-8bit: first and last layer at w8a8)")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Build (or load) the table and print or write it."""
    import json
    from pathlib import Path

    from hwsim.lut import build_lut, cached_lut, lut_to_table
    from hwsim.precision import PrecisionPolicy, check_bits

    check_output_file(args)
    hw, layers, shape = load_workload(args)
    model = args.model or Path(args.topology or args.onnx).stem
    policy = PrecisionPolicy(args.policy)
    bits = None
    if args.bits:  # checked before the table is built: a bad bits file is the only line
        from hwsim.precision import load_bits_file

        bits = load_bits_file(args.bits, [layer.name for layer in layers])
        for (w, a) in set(bits.values()):
            check_bits(hw, w, a, f"{args.bits}: ")
    if args.no_cache:
        doc, status = build_lut(layers, hw, model, shape, args.jobs, progress(args), policy), "built (cache off)"
    else:
        doc, status = cached_lut(layers, hw, model, shape, Path(args.cache_dir) if args.cache_dir else None,
                                 args.jobs, progress(args), policy)
    note(f"lut: {status}")
    if bits is not None:
        from hwsim.lut import additivity_of

        doc["additivity"].append(additivity_of(layers, hw, doc["layers"], f"bits file {Path(args.bits).name}", bits))
    fmt = args.format or ("json" if args.output else "table")
    text = json.dumps(doc, indent=1, allow_nan=False) + "\n" if fmt == "json" else lut_to_table(doc)
    worst = max((abs(a["error_pct"]) for a in doc["additivity"]), default=0.0)
    emit(text, args, f"{len(doc['layers'])} layers x {len(doc['choices'])} pairs; additivity error up to {worst:.3f}%")
    return 0
