"""``hwsim simulate``: per-layer cycles of a network on a hardware config."""

from __future__ import annotations

from hwsim.errors import HwsimError

from .common import FORMATS, add_common, add_output, add_workload, bit_width, check_output_file, check_output_folder, \
    emit, load_workload, note


def add_parser(sub) -> None:
    """Register the command."""
    p = sub.add_parser("simulate", help="simulate a network layer by layer on a hardware config",
                       description="Simulate every conv/linear layer of a network on the hardware and print per-layer "
                                   "cycles.")
    add_workload(p)
    p.add_argument("--wbits", type=bit_width, metavar="B", help="weight bits for every layer (default 8)")
    p.add_argument("--abits", type=bit_width, metavar="B", help="activation bits for every layer (default 8)")
    p.add_argument("--bits", metavar="FILE", help="per-layer bits: JSON/YAML mapping layer -> w4a8 (and optional default)")
    p.add_argument("--kv-bits", type=bit_width, metavar="B",
                   help="transformers: bits of attention's second operand, K and V (the KV cache in decode), in "
                        "place of the weight bits of its matmul layers")
    p.add_argument("--dataflow", choices=("os", "ws", "is"), help="override the config's dataflow")
    p.add_argument("--whole-network", action="store_true",
                   help="requantize each layer's outputs to the next layer's activation bits (default: its own)")
    p.add_argument("--format", choices=FORMATS + ("scalesim",), default="table",
                   help="output format (default table); scalesim writes SCALE-Sim's COMPUTE_REPORT.csv, "
                        "BANDWIDTH_REPORT.csv and DETAILED_ACCESS_REPORT.csv into the folder -o DIR")
    add_output(p)
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    """Simulate and print (or write) the result."""
    from hwsim.api import hardware, simulate
    from hwsim.precision import load_bits_file

    if args.bits and (args.wbits is not None or args.abits is not None):
        raise HwsimError("give either --bits FILE or --wbits/--abits, not both")
    if args.format == "scalesim":
        if not args.output:
            raise HwsimError("--format scalesim writes three report files: give the folder with -o DIR")
        check_output_folder(args.output, args.force)
    else:
        check_output_file(args)
    hw, layers, _ = load_workload(args)
    if args.dataflow:
        hw = hardware(hw, dataflow=args.dataflow)
    if args.bits:
        bits = load_bits_file(args.bits, [layer.name for layer in layers])
    else:
        bits = (8 if args.wbits is None else args.wbits, 8 if args.abits is None else args.abits)
    if args.kv_bits is not None:
        if not any(layer.kind == "matmul" for layer in layers):
            raise HwsimError("--kv-bits applies to transformers (layers of kind matmul); this workload has none")
        pairs = {layer.name: bits[layer.name] if isinstance(bits, dict) else bits for layer in layers}
        bits = {layer.name: ((args.kv_bits, pairs[layer.name][1]) if layer.kind == "matmul" else pairs[layer.name])
                for layer in layers}
    result = simulate(layers, hw, bits, whole_network=args.whole_network)
    if args.format == "scalesim":
        from pathlib import Path

        from hwsim.io import write_atomic

        for name, text in result.to_scalesim_reports().items():
            write_atomic(Path(args.output) / name, text)
        note(f"wrote {args.output}/COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv, DETAILED_ACCESS_REPORT.csv "
             f"({len(result.layers)} layers)")
        return 0
    text = {"table": result.to_table, "json": result.to_json, "csv": result.to_csv}[args.format]()
    if args.format == "table" and args.model:
        from hwsim.transformer import phase_label

        phase = phase_label(args.model, args.batch)
        if phase:  # a decoder: its total is the time to first token or per output token
            text = text.rstrip("\n") + f"\n{phase}: {result.latency_ms:.3f} ms\n"
    emit(text, args, f"{len(result.layers)} layers, {result.total_cycles:,} cycles, {result.latency_ms:.3f} ms")
    return 0
