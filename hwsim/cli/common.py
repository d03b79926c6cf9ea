"""What every command shares: the parser class, argument types, the workload arguments, and output."""

from __future__ import annotations

import argparse
import math
import re
import sys

from hwsim.errors import HwsimError

FORMATS = ("table", "json", "csv")
POLICIES = ("first-last-8bit", "none")


class UsageError(HwsimError):
    """A malformed command line."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one HwsimError line (exit 2 through the error contract)."""

    def error(self, message: str):
        raise UsageError(f"{message} (see '{self.prog} --help')")


def int_in(lo: int, hi: int):
    """An argparse type: an integer from ``lo`` to ``hi`` (digits only; a range a run could use)."""
    def parse(text: str) -> int:
        t = text.strip()
        value = int(t) if re.fullmatch(r"[+-]?\d{1,19}", t) else None
        if value is None or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"expected an integer from {lo:,} to {hi:,}, got {text[:40]!r}")
        return value
    parse.__name__ = f"integer from {lo} to {hi}"
    return parse


#: an integer >= 1 with no flag-specific range (at most a billion)
positive_int = int_in(1, 10 ** 9)
#: random seeds: what numpy, torch and Python all take
seed_int = int_in(0, 2 ** 32 - 1)


def jobs_int(text: str) -> int:
    """An argparse type: worker processes, 1 to 4 per core of this machine (each holds a simulator)."""
    import os

    return int_in(1, 4 * (os.cpu_count() or 1))(text)


def number_in(lo: float, hi: float, open_lo: bool = False):
    """An argparse type: a finite number in [lo, hi] (or (lo, hi] with ``open_lo``)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (math.isfinite(value) and (value > lo if open_lo else value >= lo) and value <= hi):
            raise argparse.ArgumentTypeError(f"expected a number {'above' if open_lo else 'from'} {lo:g} "
                                             f"{'and up ' if open_lo else ''}to {hi:g}, got {text[:40]!r}")
        return value
    parse.__name__ = f"number from {lo:g} to {hi:g}"
    return parse


#: a finite number (nan and inf are refused: every number hwsim reads is finite), at most 1e18 in size
finite_float = number_in(-1e18, 1e18)
#: a finite number > 0, at most 1e18
positive_float = number_in(0, 1e18, open_lo=True)


def bit_width(text: str) -> int:
    """An argparse type: a bit-width of 2 to 8 (the hardware then says which of them it runs)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 2 <= value <= 8:
        raise argparse.ArgumentTypeError(f"bit-width {text!r}: allowed 2..8 (the hardware supports 2, 4, 8)")
    return value


def add_common(p) -> None:
    """--quiet and --debug, on every command."""
    p.add_argument("--quiet", action="store_true", help="no progress bars on stderr (also off when stderr is not a terminal)")
    p.add_argument("--debug", action="store_true", help="show a traceback on errors")


def progress(args) -> bool:
    """Show progress bars: not --quiet, and stderr is a terminal."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def add_output(p, required: bool = False, metavar: str = "FILE", help_text: str | None = None) -> None:
    """-o/--output and --force (write through a symbolic link)."""
    p.add_argument("-o", "--output", required=required, metavar=metavar,
                   help=help_text or f"write to {metavar} (atomically) instead of standard output")
    p.add_argument("--force", action="store_true", help="write through a symbolic link at the output path")


def check_output_file(args) -> None:
    """Pre-flight: refuse an output file location before any long work."""
    from hwsim.io import check_output

    if getattr(args, "output", None):
        check_output(args.output, args.force, create=False)


def check_output_folder(path: str, force: bool) -> None:
    """Pre-flight: refuse an output folder location before any long work."""
    from pathlib import Path

    from hwsim.io import check_output_dir

    p = Path(path)
    if p.is_symlink() and not force:
        raise HwsimError(f"{p}: a symbolic link; refusing to write through it (--force writes to its target)")
    check_output_dir(p, create=False)


def note(message: str) -> None:
    """An informational line on stderr (stdout is for the requested output only)."""
    print(message, file=sys.stderr)


def emit(text: str, args, summary: str) -> None:
    """The requested output: to -o (atomically, with a note on stderr) or to stdout."""
    from hwsim.io import write_atomic

    if getattr(args, "output", None):
        written = write_atomic(args.output, text, args.force)
        note(f"wrote {written} ({summary})")
    else:
        sys.stdout.write(text)


def add_workload(p, required: bool = True) -> None:
    """--hw (and its --timing) and the network: a model name or a SCALE-Sim topology, at an input size and batch."""
    p.add_argument("--hw", required=required, metavar="CONFIG", help="hardware config: a shipped name (bitfusion_16x32, cortex_a53_rpi3b, ...), a hwsim YAML or a "
                                                                  "SCALE-Sim .cfg")
    src = p.add_mutually_exclusive_group(required=required)
    src.add_argument("--model", metavar="NAME",
                     help="architecture name (resnet18, resnet50, mobilenet_v1, mobilenet_v2, regnet_x_600mf, digits-resnet), "
                          "or a transformer (vit_b_16, deit_tiny, deit_small, bert_base, llama3_8b, llama3_2_1b, "
                          "gpt2_small, llama) with options in the name: llama3_8b:phase=decode,seq=4096")
    src.add_argument("--topology", metavar="CSV", help="SCALE-Sim topology CSV (conv or GEMM rows)")
    src.add_argument("--onnx", metavar="FILE", help="an ONNX model (needs the onnx package: pip install 'hwsim[onnx]')")
    p.add_argument("--input-shape", type=_shape, metavar="N,C,H,W",
                   help="--onnx: the shape of the model's first input, where the file does not fix it")
    p.add_argument("--skip-unsupported", action="store_true",
                   help="--onnx: leave out operators hwsim does not model, and count them (default: refuse them)")
    p.add_argument("--input-size", type=int_in(1, 2048), default=None, metavar="PX",
                   help="input height and width (default 224; 16 for digits-resnet)")
    p.add_argument("--batch", type=int_in(1, 65536), default=1, help="batch size (default 1)")
    p.add_argument("--timing", choices=("hwsim", "scalesim"),
                   help="override the config's timing mode: hwsim (the best schedule, every cycle counted) or "
                        "scalesim (SCALE-Sim's schedule and counts)")
    add_arm_options(p)


def _shape(text: str) -> tuple[int, ...]:
    """An input shape: comma-separated positive integers."""
    try:
        dims = tuple(int(x) for x in text.split(","))
    except ValueError:
        dims = ()
    if not dims or any(not 1 <= d <= 2 ** 24 for d in dims):
        raise argparse.ArgumentTypeError(f"{text!r}: allowed: comma-separated integers from 1 to {2 ** 24:,}")
    return dims


def add_arm_options(p, what: str = "the ARM target") -> None:
    """--threads and --clock-mhz: how an ARM board is run (overriding its config)."""
    p.add_argument("--threads", type=int_in(1, 1024), metavar="N",
                   help=f"cores {what} runs on, 1 to its core count (default: the config's, all cores)")
    p.add_argument("--clock-mhz", type=positive_float, metavar="F",
                   help=f"core clock of {what} in MHz (default: the config's)")


def load_workload(args):
    """(hardware config, layers, input shape) from the workload arguments."""
    from hwsim.api import hardware, model_layers, topology_layers

    hw = hardware(args.hw, threads=args.threads, clock_mhz=args.clock_mhz, timing=args.timing)
    if (args.input_shape is not None or args.skip_unsupported) and not args.onnx:
        raise HwsimError("--input-shape and --skip-unsupported apply to --onnx")
    if args.topology or args.onnx:
        if args.input_size is not None or args.batch != 1:
            raise HwsimError("--input-size and --batch apply to --model; a topology or ONNX file fixes its own sizes "
                             "(--onnx: --input-shape)")
        if args.topology:
            return hw, topology_layers(args.topology), ()
        from hwsim.api import onnx_layers

        layers, skipped = onnx_layers(args.onnx, input_shape=args.input_shape, skip_unsupported=args.skip_unsupported)
        if skipped:
            note(f"onnx: left out {sum(skipped.values())} unsupported operators: "
                 + ", ".join(f"{op} ({n})" for op, n in sorted(skipped.items())))
        return hw, layers, tuple(args.input_shape or ())
    if args.model == "digits-resnet":  # the embedded quantization default (1-channel inputs)
        from hwsim.quant.digits_model import default_digits_model
        from hwsim.workload import layers_from_module

        shape = (args.batch, 1, args.input_size or 16, args.input_size or 16)
        return hw, layers_from_module(default_digits_model(), shape), shape
    shape = (args.batch, 3, args.input_size or 224, args.input_size or 224)
    return hw, model_layers(args.model, input_size=args.input_size, batch=args.batch), shape


# quant.sensitivity.METHODS, written out so that building the parser does not import torch (a test checks)
SENSITIVITY_METHODS = ("brecq", "first_order", "hawq", "limpq", "gmpq", "pnmq")


def add_sensitivity_method(p, flag: str) -> None:
    """The sensitivity method (``flag``: --method or --sensitivity-method) and its options."""
    p.add_argument(flag, dest="sensitivity_method", choices=SENSITIVITY_METHODS, default="brecq",
                   help="which sensitivity the search reads: brecq (default: block reconstruction, then each "
                        "layer's cost measured on held-out data), first_order (expected gradient norm under a "
                        "weight perturbation k, Chauhan et al.), hawq (Hutchinson Hessian traces), limpq "
                        "(learned per-bit step sizes of a one-time quantization-aware training, Tang et al.), "
                        "gmpq (loss and attribution-rank preservation on a proxy set, Wang et al.), or pnmq "
                        "(data-free weight error of a non-uniform grid, Chikin and Antiukh; weights only)")
    p.add_argument("--k", type=number_in(-1e6, 1e6), default=0.001,
                   help="first_order: the weight perturbation (default 0.001, the paper's; 0 = plain gradient norm)")
    p.add_argument("--limpq-epochs", type=int_in(1, 10_000), default=10,
                   help="limpq: epochs of the one-time training (default 10)")
    p.add_argument("--alpha", type=number_in(-1e6, 1e6), default=3.0,
                   help="limpq: weight of the weight indicators against the activation ones (default 3.0, the "
                        "paper's for ResNet-18)")
    p.add_argument("--proxy", type=int_in(1, 100_000), default=256,
                   help="gmpq: images of the proxy set (default 256, from the calibration set)")
    p.add_argument("--lam", type=number_in(-1e6, 1e6), default=1.0,
                   help="gmpq: weight of attribution-rank loss against the task-loss increase (default 1.0)")


def sensitivity_options(args) -> dict:
    """The chosen method's own options, checked (one error line for a bad value)."""
    if not args.k >= 0:
        raise HwsimError(f"--k {args.k}: allowed: a perturbation >= 0")
    if not args.alpha > 0:
        raise HwsimError(f"--alpha {args.alpha}: allowed: a positive weight")
    if not args.lam >= 0:
        raise HwsimError(f"--lam {args.lam}: allowed: a weight >= 0")
    return {"first_order": {"k": args.k}, "limpq": {"epochs": args.limpq_epochs, "alpha": args.alpha},
            "gmpq": {"proxy": args.proxy, "lam": args.lam}}.get(args.sensitivity_method, {})


def add_trust_checkpoint(p) -> None:
    """--trust-checkpoint: a full pickle may run code when loaded, so it is never loaded without being asked."""
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="load --checkpoint as a full pickle (a saved module); a pickle can run code, so only for "
                        "files you trust. Without it only tensors and plain data load (torch weights_only)")


def add_model_source(p, recon_flag: str = "--method") -> None:
    """Where a model and its data come from (quantize, sensitivity); ``recon_flag`` names the reconstruction
    method's option (``hwsim sensitivity`` uses --method for the sensitivity method)."""
    p.add_argument("--model", default="digits-resnet",
                   help="digits-resnet (default: the embedded noisy-digits task, trained once and cached) or an "
                        "architecture name used with --checkpoint and --data")
    p.add_argument("--checkpoint", metavar="FILE", help="state dict of the model's FP weights")
    add_trust_checkpoint(p)
    p.add_argument("--data", metavar="DIR", help="ImageFolder root with train/ (calibration, held-out) and val/ (test)")
    p.add_argument(recon_flag, dest="method", choices=("brecq", "adaround", "rtn"), default="brecq",
                   help="brecq (default), adaround (layer-wise AdaRound) or rtn (round to nearest)")
    p.add_argument("--granularity", choices=("layer", "block", "stage", "net"), default="block")
    p.add_argument("--objective", choices=("fisher", "mse"), default="fisher")
    p.add_argument("--iters", type=int_in(1, 1_000_000), default=500, help="iterations per unit (paper: 20000; default 500)")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--policy", choices=POLICIES, default="first-last-8bit",
                   help="precision policy: first-last-8bit (default: first and last layer w8a8, as in BRECQ) or none")
