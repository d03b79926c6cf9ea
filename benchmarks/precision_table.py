"""The README's tables of what the accelerator model predicts: ResNet-18 per precision on the shipped systolic
configs, and MobileNetV2's depthwise utilization.  Usage: python benchmarks/precision_table.py"""

from __future__ import annotations

from pathlib import Path

from hwsim.config import load_config
from hwsim.targets import simulate_network
from hwsim.workload import layers_from_model_name

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ("bitfusion_16x32", "bitfusion_32x64", "bitfusion_16x32_starved")
PAIRS = [(8, 8), (4, 8), (8, 4), (4, 4), (2, 8), (8, 2), (2, 4), (4, 2), (2, 2)]


def main() -> None:
    hws = [load_config(ROOT / "hw_configs" / f"{c}.yaml") for c in CONFIGS]
    layers = layers_from_model_name("resnet18")
    ms = {(hw.name, p): simulate_network(layers, hw, p).latency_ms for hw in hws for p in PAIRS}
    print("| w x a | " + " | ".join(CONFIGS) + " |")
    print("|---|" + "---|" * len(CONFIGS))
    for w, a in PAIRS:
        cells = [f"{ms[(c, (w, a))]:.2f} ms ({ms[(c, (8, 8))] / ms[(c, (w, a))]:.1f}x)" for c in CONFIGS]
        print(f"| w{w}a{a} | " + " | ".join(cells) + " |")
    mb = simulate_network(layers_from_model_name("mobilenet_v2"), hws[0], (8, 8))
    dw = [r for r, layer in zip(mb.layers, layers_from_model_name("mobilenet_v2")) if layer.is_depthwise]
    print(f"\nMobileNetV2 on {hws[0].name} at w8a8: {len(dw)} depthwise layers at "
          f"{100 * min(r.utilization for r in dw):.1f}-{100 * max(r.utilization for r in dw):.1f}% utilization; "
          f"whole network {100 * mb.total()['utilization']:.1f}% ({mb.latency_ms:.1f} ms; ResNet-18 "
          f"{ms[(hws[0].name, (8, 8))]:.1f} ms)")


if __name__ == "__main__":
    main()
