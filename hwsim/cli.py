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


def _add_simulate(sub) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate a network layer by layer on a hardware config",
        description="Simulate every conv/linear layer of a network on the hardware and print per-layer cycles.",
    )
    p.add_argument("--hw", required=True, metavar="CONFIG", help="hardware config: hwsim YAML or SCALE-Sim .cfg")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", metavar="NAME", help="architecture name (resnet18, resnet50, mobilenet_v2, regnet_x_600mf)")
    src.add_argument("--topology", metavar="CSV", help="SCALE-Sim topology CSV (conv or GEMM rows)")
    p.add_argument("--wbits", type=int, metavar="B", help="weight bits for every layer (default 8)")
    p.add_argument("--abits", type=int, metavar="B", help="activation bits for every layer (default 8)")
    p.add_argument("--bits", metavar="FILE", help="per-layer bits: JSON/YAML mapping layer -> w4a8 (and optional default)")
    p.add_argument("--dataflow", choices=("os", "ws", "is"), help="override the config's dataflow")
    p.add_argument("--input-size", type=_positive_int, default=224, metavar="PX", help="input height and width (default 224)")
    p.add_argument("--batch", type=_positive_int, default=1, help="batch size (default 1)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (atomically) instead of standard output")
    p.set_defaults(func=_cmd_simulate)


def _cmd_simulate(args) -> int:
    from .config import load_config
    from .io import write_atomic
    from .precision import load_bits_file
    from .systolic import simulate_network
    from .workload import layers_from_model_name, layers_from_topology

    if args.bits and (args.wbits or args.abits):
        raise HwsimError("give either --bits FILE or --wbits/--abits, not both")
    hw = load_config(args.hw)
    if args.dataflow:
        hw = hw.with_dataflow(args.dataflow)
    if args.model:
        layers = layers_from_model_name(args.model, (args.batch, 3, args.input_size, args.input_size))
    else:
        layers = layers_from_topology(args.topology)
    if args.bits:
        bits = load_bits_file(args.bits, [layer.name for layer in layers])
    else:
        bits = (args.wbits or 8, args.abits or 8)
    result = simulate_network(layers, hw, bits)
    text = {"table": result.to_table, "json": result.to_json, "csv": result.to_csv}[args.format]()
    if args.output:
        write_atomic(args.output, text)
        print(f"wrote {args.output} ({len(result.layers)} layers, {result.total_cycles:,} cycles, "
              f"{result.latency_ms:.3f} ms)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="hwsim", description="Hardware-in-the-loop quantization co-design toolkit.")
    parser.add_argument("--version", action="version", version=f"hwsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_simulate(sub)
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
