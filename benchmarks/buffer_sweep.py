"""DRAM traffic and latency as each on-chip buffer grows: where the working sets start to fit.

For ResNet-18 and MobileNetV2 (224x224, batch 1, w8a8) on the paper's 16x32 array, each buffer
(ifmap, filter, ofmap) sweeps 1 KiB .. 4 MiB while the other two keep the paper's sizes (32, 64 and
16 KiB), for the OS and WS dataflows.  Prints the DRAM megabytes and milliseconds of every point
and writes docs/buffer_sweep.png (and .svg).  DRAM bytes never grow with a buffer (a property test
checks that on random layers); the knees are the sizes at which tiles start to stay on chip.
Usage: python benchmarks/buffer_sweep.py [--bits w8a8] [--out docs/buffer_sweep]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from hwsim.config import Buffers, load_config
from hwsim.precision import parse_label
from hwsim.targets import simulate_network
from hwsim.workload import layers_from_model_name

ROOT = Path(__file__).resolve().parent.parent
SIZES_KIB = [2 ** i for i in range(13)]  # 1 KiB .. 4 MiB
BUFFERS = ("ifmap", "filter", "ofmap")
MODELS = ("resnet18", "mobilenet_v2")
DATAFLOWS = ("os", "ws")


def sweep(hw, layers, bits):
    """{(buffer, KiB): (DRAM MB, ms)} with the other buffers at the config's sizes."""
    out = {}
    for b, name in enumerate(BUFFERS):
        for kib in SIZES_KIB:
            sizes = list(hw.sram_kib)
            sizes[b] = float(kib)
            r = simulate_network(layers, dataclasses.replace(hw, sram_kib=Buffers(*sizes)), bits)
            t = r.total()
            out[(name, kib)] = ((t["dram_read_bytes"] + t["dram_write_bytes"]) / 1e6, r.latency_ms)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", default="w8a8")
    parser.add_argument("--out", default=str(ROOT / "docs" / "buffer_sweep"))
    args = parser.parse_args()
    bits = parse_label(args.bits)
    base = load_config(ROOT / "hwsim" / "hw_configs" / "bitfusion_16x32.yaml")
    start = time.perf_counter()
    results = {}
    for model in MODELS:
        layers = layers_from_model_name(model)
        for df in DATAFLOWS:
            results[(model, df)] = sweep(base.with_dataflow(df), layers, bits)
    print(f"{base.name} ({base.rows}x{base.cols}, {base.dram_gb_per_s} GB/s DRAM), {args.bits}, batch 1; one buffer "
          f"swept, the others at ifmap {base.sram_kib.ifmap:g} / filter {base.sram_kib.filter:g} / ofmap "
          f"{base.sram_kib.ofmap:g} KiB\n")
    for (model, df), res in results.items():
        print(f"{model}, {df.upper()}: DRAM MB / latency ms")
        print(f"{'KiB':>6}  " + "  ".join(f"{b:>17}" for b in BUFFERS))
        for kib in SIZES_KIB:
            print(f"{kib:>6}  " + "  ".join(f"{res[(b, kib)][0]:8.2f} {res[(b, kib)][1]:8.3f}" for b in BUFFERS))
        print()
    print(f"{len(results) * len(BUFFERS) * len(SIZES_KIB)} whole-network simulations in "
          f"{time.perf_counter() - start:.1f} s")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hwsim.io import save_figure

    fig, axes = plt.subplots(2, 3, figsize=(13, 7), sharex=True)
    for col, buf in enumerate(BUFFERS):
        for (model, df), res in results.items():
            style = dict(ls="-" if df == "os" else "--", marker="o" if model == "resnet18" else "s", ms=3)
            lab = f"{model} {df.upper()}"
            axes[0, col].plot(SIZES_KIB, [res[(buf, k)][0] for k in SIZES_KIB], label=lab, **style)
            axes[1, col].plot(SIZES_KIB, [res[(buf, k)][1] for k in SIZES_KIB], label=lab, **style)
        axes[0, col].set_title(f"{buf} buffer swept", fontsize=10)
        axes[1, col].set_xlabel(f"{buf} buffer (KiB, log scale)")
        for row in (0, 1):
            axes[row, col].set_xscale("log", base=2)
            axes[row, col].set_yscale("log")
            axes[row, col].grid(alpha=0.3, which="both")
    axes[0, 0].set_ylabel("DRAM traffic (MB)")
    axes[1, 0].set_ylabel("latency (ms)")
    axes[0, 2].legend(fontsize=8)
    fig.suptitle(f"{base.name}, {args.bits}: DRAM traffic and latency against buffer size", fontsize=11)
    fig.tight_layout()
    print("wrote", ", ".join(str(p) for p in save_figure(fig, args.out)))


if __name__ == "__main__":
    main()
