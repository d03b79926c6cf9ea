"""``hwsim quantize``: post-training quantization by block reconstruction, with whole-model integer execution."""

from __future__ import annotations

from hwsim.errors import HwsimError

from .common import add_common, add_model_source, bit_width, check_output_folder, note, progress


def add_parser(sub) -> None:
    """Register the command."""
    p = sub.add_parser("quantize", help="post-training quantization by block reconstruction (BRECQ)",
                       description="Quantize a model with BRECQ (or the AdaRound / round-to-nearest baselines), run "
                                   "it in integers, print FP, quantized and integer top-1, and save the model and "
                                   "OUT/summary.json.")
    add_model_source(p)
    p.add_argument("--quantizer", choices=("uniform", "pnmq"), default="uniform",
                   help="uniform (default: the integer grids of --method) or pnmq (data-free parametric "
                        "non-uniform weight grids, Chikin and Antiukh; weights only, activations stay float)")
    p.add_argument("--wbits", type=bit_width, metavar="B", help="weight bits for every layer")
    p.add_argument("--abits", type=bit_width, metavar="B", help="activation bits for every layer")
    p.add_argument("--bits", metavar="FILE", help="per-layer bits: JSON/YAML mapping layer -> w4a8 (optional default)")
    p.add_argument("--per-tensor", action="store_true", help="one weight scale per layer (default: per output channel)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (resumes from its checkpoints)")
    p.add_argument("--force", action="store_true", help="write through a symbolic link at OUT")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Quantize, check in integers, save, print the accuracies."""
    from pathlib import Path

    from hwsim.precision import load_bits_file
    from hwsim.quant.qmodel import quantizable_names
    from hwsim.quant.sources import load_model_and_data

    if args.bits and (args.wbits is not None or args.abits is not None):
        raise HwsimError("give either --bits FILE or --wbits/--abits, not both")
    if args.quantizer == "pnmq" and args.abits is not None:
        raise HwsimError(f"--abits {args.abits}: pnmq quantizes weights only (activations stay in float); "
                         f"allowed: --wbits B or --bits FILE")
    if not args.bits and args.quantizer == "pnmq" and args.wbits is None:
        raise HwsimError("give --wbits B (2..8; pnmq quantizes weights only) or --bits FILE")
    if not args.bits and args.quantizer == "uniform" and (args.wbits is None or args.abits is None):
        raise HwsimError("give --wbits B and --abits B (2..8), or --bits FILE")
    check_output_folder(args.output, args.force)
    model, data = load_model_and_data(args.model, args.checkpoint, args.data, seed=args.seed,
                                      trust_checkpoint=args.trust_checkpoint, progress=progress(args))
    bits = load_bits_file(args.bits, quantizable_names(model)) if args.bits else (args.wbits, args.abits or 8)
    out = Path(args.output)
    from hwsim.lock import folder_lock

    with folder_lock(out, "quantize"):  # made only now that every input is known good
        if args.quantizer == "pnmq":
            return _run_pnmq(args, model, data, bits, out)
        return _run_reconstruction(args, model, data, bits, out)


def _run_reconstruction(args, model, data, bits, out) -> int:
    """BRECQ / AdaRound / LSQ / RTN: quantize, run in integers, save, print the one-line summary."""
    from hwsim.precision import PrecisionPolicy
    from hwsim.quant.api import quantize, save_quantized
    from hwsim.quant.integer import integer_execution

    result = quantize(model, data.calib_x, data.calib_y, data.test_x, data.test_y, bits, args.method,
                      args.granularity, args.objective, args.iters, args.seed, PrecisionPolicy(args.policy),
                      checkpoint_dir=out / "checkpoints", progress=progress(args), per_channel=not args.per_tensor)
    for line in result.notes:
        note(f"hwsim: note: {line}")
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


def _run_pnmq(args, model, data, bits, out) -> int:
    """PNMQ: weights on tuned non-uniform grids (data-free), size and accuracy; no integer execution (the
    integer PEs multiply uniform codes only)."""
    import json

    import torch

    from hwsim.io import replace_atomic, write_atomic
    from hwsim.precision import PrecisionPolicy
    from hwsim.quant.pnmq import quantize_pnmq

    wbits = bits[0] if isinstance(bits, tuple) else {n: b[0] for n, b in bits.items()}
    result = quantize_pnmq(model, data, wbits, PrecisionPolicy(args.policy))
    for line in result.notes:
        note(f"hwsim: note: {line}")
    out.mkdir(parents=True, exist_ok=True)
    replace_atomic(out / "quantized.pt", lambda tmp: torch.save(result.qmodel.state_dict(), tmp), force=True)
    write_atomic(out / "summary.json", json.dumps({**result.summary(), "model": args.model, "data": data.name,
                                                   "policy": args.policy}, indent=1) + "\n")
    print(f"FP top-1 {100 * result.fp_accuracy:.2f}%  pnmq top-1 {100 * result.quant_accuracy:.2f}% (weights only)  "
          f"size {result.size_bytes:,} B ({result.fp_bytes / result.size_bytes:.1f}x smaller than float32)  "
          f"Eq. A.2 rounding differs from the nearest level for {100 * result.differs_from_nearest:.2f}% of the "
          f"weights -> {out}")
    return 0
