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
                   out_bits: int | None = None, ifmap_on_chip: bool = False,
                   ofmap_on_chip: bool = False) -> LayerResult:
    """Cost of one layer on any target.

    ``out_bits``: precision of its requantized outputs (default abits).  ``ifmap_on_chip`` /
    ``ofmap_on_chip``: the input was left on chip by the previous layer / the output stays on
    chip for the next one (no DRAM traffic for it; systolic targets only).
    """
    if hw.kind == "arm":
        from .arm import simulate_layer_arm

        return simulate_layer_arm(layer, hw, wbits, abits, out_bits)
    from .systolic import simulate_layer as systolic_layer

    return systolic_layer(layer, hw, wbits, abits, out_bits=out_bits, ifmap_on_chip=ifmap_on_chip,
                          ofmap_on_chip=ofmap_on_chip)


def bits_per_layer(layers: list[Layer], bits: Bits | Mapping[str, Bits]) -> dict[str, Bits]:
    """Expand one (w, a) pair to every layer, or check a per-layer mapping covers them all."""
    if isinstance(bits, tuple):
        return {layer.name: bits for layer in layers}
    missing = [layer.name for layer in layers if layer.name not in bits]
    if missing:
        raise HwsimError(f"bit assignment has no entry for layer(s): {', '.join(missing[:5])}"
                         + (" ..." if len(missing) > 5 else ""))
    return {layer.name: tuple(bits[layer.name]) for layer in layers}


def on_chip_bits(hw: HardwareConfig) -> float:
    """Bits an activation tensor may have to stay on chip between two layers (0: never)."""
    if hw.kind != "systolic":
        return 0.0
    return min(hw.sram_kib.ifmap, hw.sram_kib.ofmap) * 1024 * 8


def simulate_network(layers: Iterable[Layer], hw: HardwareConfig, bits: Bits | Mapping[str, Bits] = (8, 8),
                     whole_network: bool = False) -> NetworkResult:
    """Simulate every layer, one after another.

    Per layer (``whole_network=False``) each layer's outputs are requantized to its own
    activation bits and go to DRAM, as in a lookup table.  ``whole_network=True`` runs the
    network as deployed:

    * each output tensor is written at the activation bits of the layers that read it (the
      graph's edges, ``Layer.consumers``; a topology file has no graph: the next layer in order);
    * a tensor read only by the very next layer, that fits in both the ifmap and the ofmap
      buffer, stays on chip: no DRAM write, no DRAM read (systolic targets).
    """
    layers = list(layers)
    per_layer = bits_per_layer(layers, bits)
    names = {layer.name for layer in layers}
    room = on_chip_bits(hw)
    results, input_on_chip = [], False
    for i, layer in enumerate(layers):
        w, a = per_layer[layer.name]
        out_bits, keep = None, False
        if whole_network:
            readers = [c for c in layer.consumers if c in names]
            if readers:
                out_bits = max(per_layer[c][1] for c in readers)
            elif not layer.consumers and i + 1 < len(layers):  # no graph: the next layer reads it
                out_bits = per_layer[layers[i + 1].name][1]
            nxt = layers[i + 1].name if i + 1 < len(layers) else None
            keep = (layer.consumers == (nxt,) and nxt is not None
                    and layer.ofmap_elements * (out_bits or a) <= room)
        results.append(simulate_layer(layer, hw, w, a, out_bits, ifmap_on_chip=input_on_chip, ofmap_on_chip=keep))
        input_on_chip = keep
    return NetworkResult(hardware=hw.name, dataflow=getattr(hw, "dataflow", None) or f"{hw.threads} threads",
                         clock_mhz=hw.clock_mhz, layers=results,
                         area_mm2=hw.area_mm2() if hw.kind == "systolic" else None)
