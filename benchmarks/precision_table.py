"""The tables of what the accelerator model predicts, quoted in docs/models/accelerator.md (timing ``hwsim``,
whole networks, batch 1):

1. ResNet-18 latency per precision on the shipped systolic configs;
2. latency, energy and area of ResNet-18 and MobileNetV2 at w8a8, w4a4 and w2a2;
3. the three dataflows on the paper's array (ResNet-18), and the 2x2 mode's share of its peak;
4. MobileNetV2's depthwise utilization.

Usage: python benchmarks/precision_table.py
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from hwsim.config import Buffers, load_config
from hwsim.targets import simulate_network
from hwsim.workload import layers_from_model_name

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ("bitfusion_16x32", "bitfusion_32x64", "bitfusion_16x32_starved")
PAIRS = [(8, 8), (4, 8), (8, 4), (4, 4), (2, 8), (8, 2), (2, 4), (4, 2), (2, 2)]
MODELS = ("resnet18", "mobilenet_v2")


def main() -> None:
    start = time.perf_counter()
    hws = [load_config(ROOT / "hwsim" / "hw_configs" / f"{c}.yaml") for c in CONFIGS]
    nets = {m: layers_from_model_name(m) for m in MODELS}
    runs = {(m, hw.name, p): simulate_network(nets[m], hw, p) for m in MODELS for hw in hws for p in PAIRS}
    ms = {k: r.latency_ms for k, r in runs.items()}

    print("## ResNet-18 latency per precision (speed-up over w8a8)\n")
    print("| w x a | " + " | ".join(CONFIGS) + " |")
    print("|---|" + "---|" * len(CONFIGS))
    for w, a in PAIRS:
        cells = [f"{ms[('resnet18', c, (w, a))]:.2f} ms ({ms[('resnet18', c, (8, 8))] / ms[('resnet18', c, (w, a))]:.1f}x)"
                 for c in CONFIGS]
        print(f"| w{w}a{a} | " + " | ".join(cells) + " |")

    print("\n## Latency, energy and area\n")
    print("| model | config | area (mm2) | w8a8 ms / uJ | w4a4 ms / uJ | w2a2 ms / uJ |")
    print("|---|---|---|---|---|---|")
    for m in MODELS:
        for hw in hws:
            cells = [f"{runs[(m, hw.name, p)].latency_ms:.2f} / {runs[(m, hw.name, p)].energy_uj:.0f}"
                     for p in ((8, 8), (4, 4), (2, 2))]
            print(f"| {m} | {hw.name} | {hw.area_mm2():.2f} | " + " | ".join(cells) + " |")
    e = runs[("resnet18", hws[0].name, (8, 8))].total()
    print(f"\nResNet-18 w8a8 on {hws[0].name}: compute {e['energy_compute_pj'] / e['energy_pj']:.0%}, "
          f"buffers {e['energy_sram_pj'] / e['energy_pj']:.0%}, DRAM {e['energy_dram_pj'] / e['energy_pj']:.0%} "
          "of the energy")

    paper = hws[0]
    print(f"\n## Dataflows on {paper.name}, ResNet-18\n")
    print("| dataflow | w8a8 ms (vs OS) | w2a2 ms (vs OS) | w2a2 share of the 2x2 peak |")
    print("|---|---|---|---|")
    base = {}
    for df in ("os", "ws", "is"):
        hw = paper.with_dataflow(df)
        r8, r2 = (simulate_network(nets["resnet18"], hw, p) for p in ((8, 8), (2, 2)))
        base.setdefault("8", r8.latency_ms)
        base.setdefault("2", r2.latency_ms)
        print(f"| {df.upper()} | {r8.latency_ms:.2f} ({r8.latency_ms / base['8']:.2f}x) | "
              f"{r2.latency_ms:.3f} ({r2.latency_ms / base['2']:.2f}x) | {r2.total()['utilization']:.1%} |")
    free = dataclasses.replace(paper, sram_bytes_per_cycle=Buffers(None, None, None))
    r2 = simulate_network(nets["resnet18"], free, (2, 2))
    print(f"\nOS w2a2 with unlimited on-chip buffer bandwidth: {r2.latency_ms:.3f} ms, "
          f"{r2.total()['utilization']:.1%} of the 2x2 peak")

    mb = runs[("mobilenet_v2", paper.name, (8, 8))]
    dw = [r for r, layer in zip(mb.layers, nets["mobilenet_v2"]) if layer.is_depthwise]
    print(f"\nMobileNetV2 on {paper.name} at w8a8: {len(dw)} depthwise layers at "
          f"{100 * min(r.utilization for r in dw):.1f}-{100 * max(r.utilization for r in dw):.1f}% utilization; "
          f"whole network {100 * mb.total()['utilization']:.1f}% ({mb.latency_ms:.2f} ms; ResNet-18 "
          f"{ms[('resnet18', paper.name, (8, 8))]:.2f} ms)")
    print(f"\n{len(runs) + 7} whole-network simulations in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
