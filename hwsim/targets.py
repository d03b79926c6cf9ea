"""One entry point for every hardware target: the same question, the same result type.

Downstream code (CLI, lookup tables, search, validation) calls these and never asks which
kind of hardware it is talking to.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from .config import HardwareConfig
from .errors import HwsimError
from .layers import Layer
from .results import LayerResult, NetworkResult

Bits = tuple[int, int]  # (weight bits, activation bits)


def simulate_layer(layer: Layer, hw: HardwareConfig, wbits: int = 8, abits: int = 8,
                   out_bits: int | None = None) -> LayerResult:
    """Cost of one layer on any target; ``out_bits`` = precision of its requantized outputs (default abits)."""
    if hw.kind == "arm":
        from .arm import simulate_layer_arm

        return simulate_layer_arm(layer, hw, wbits, abits, out_bits)
    from .systolic import simulate_layer as systolic_layer

    return systolic_layer(layer, hw, wbits, abits, out_bits=out_bits)


def bits_per_layer(layers: list[Layer], bits: Bits | Mapping[str, Bits]) -> dict[str, Bits]:
    """Expand one (w, a) pair to every layer, or check a per-layer mapping covers them all."""
    if isinstance(bits, tuple):
        return {layer.name: bits for layer in layers}
    missing = [layer.name for layer in layers if layer.name not in bits]
    if missing:
        raise HwsimError(f"bit assignment has no entry for layer(s): {', '.join(missing[:5])}"
                         + (" ..." if len(missing) > 5 else ""))
    return {layer.name: tuple(bits[layer.name]) for layer in layers}


def simulate_network(layers: Iterable[Layer], hw: HardwareConfig, bits: Bits | Mapping[str, Bits] = (8, 8),
                     whole_network: bool = False) -> NetworkResult:
    """Simulate every layer, one after another.

    Per layer (``whole_network=False``) each layer's outputs are requantized to its own
    activation bits, as in a lookup table.  ``whole_network=True`` runs the network as
    deployed: outputs are requantized to the activation bits of the next layer that reads
    them (the next layer in execution order), which a per-layer table cannot know.
    """
    layers = list(layers)
    per_layer = bits_per_layer(layers, bits)
    results = []
    for i, layer in enumerate(layers):
        w, a = per_layer[layer.name]
        out_bits = per_layer[layers[i + 1].name][1] if whole_network and i + 1 < len(layers) else None
        results.append(simulate_layer(layer, hw, w, a, out_bits))
    return NetworkResult(hardware=hw.name, dataflow=getattr(hw, "dataflow", "im2col-gemm"),
                         clock_mhz=hw.clock_mhz, layers=results)
