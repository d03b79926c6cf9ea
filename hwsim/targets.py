"""One entry point for every hardware target: the same question, the same result type.

Every hardware config implements :class:`Target` (the systolic array and the ARM board alike) and
:func:`simulate_layer` dispatches on its type (a new target is a config class and one ``register``), so downstream
code (CLI, lookup tables, search, validation) calls these and never asks which kind of hardware it talks to.
"""

from __future__ import annotations

import functools
from typing import Iterable, Mapping, Protocol, runtime_checkable

from .config import ArmConfig, HardwareConfig, SystolicConfig
from .errors import HwsimError
from .layers import Layer
from .precision import Bits
from .results import LayerResult, NetworkResult


@runtime_checkable
class Target(Protocol):
    """What a hardware target answers; :class:`hwsim.config.SystolicConfig` and :class:`hwsim.config.ArmConfig`
    implement it."""

    name: str
    clock_mhz: float
    bits: tuple[int, ...]

    def on_chip_bits(self) -> float:
        """Bits an activation tensor may have to stay on chip between two layers (0: never)."""
        ...

    def area_mm2(self) -> float | None:
        """Silicon area (mm2), or None without an area model."""
        ...

    @property
    def run_label(self) -> str:
        """How it runs, for reports (a dataflow, a thread count)."""
        ...

    def content_hash(self) -> str:
        """A stable hash of everything that changes simulated numbers."""
        ...


def simulate_layer(layer: Layer, hw: HardwareConfig, wbits: int = 8, abits: int = 8,
                   out_bits: int | None = None, ifmap_on_chip: bool = False,
                   ofmap_on_chip: bool = False) -> LayerResult:
    """Cost of one layer on any target.

    ``out_bits``: precision of its requantized outputs (default abits).  ``ifmap_on_chip`` /
    ``ofmap_on_chip``: the input was left on chip by the previous layer / the output stays on
    chip for the next one (no DRAM traffic for it; systolic targets only).
    """
    return _simulate(hw, layer, wbits, abits, out_bits, ifmap_on_chip, ofmap_on_chip)


@functools.singledispatch
def _simulate(hw: object, layer: Layer, wbits: int, abits: int, out_bits: int | None, ifmap_on_chip: bool,
              ofmap_on_chip: bool) -> LayerResult:
    raise HwsimError(f"no simulator for a {type(hw).__name__}; allowed: a SystolicConfig or an ArmConfig")


@_simulate.register
def _(hw: SystolicConfig, layer: Layer, wbits: int, abits: int, out_bits: int | None, ifmap_on_chip: bool,
      ofmap_on_chip: bool) -> LayerResult:
    from .systolic import simulate_layer as systolic_layer

    return systolic_layer(layer, hw, wbits, abits, out_bits=out_bits, ifmap_on_chip=ifmap_on_chip,
                          ofmap_on_chip=ofmap_on_chip)


@_simulate.register
def _(hw: ArmConfig, layer: Layer, wbits: int, abits: int, out_bits: int | None, ifmap_on_chip: bool,
      ofmap_on_chip: bool) -> LayerResult:
    from .arm import simulate_layer_arm

    return simulate_layer_arm(layer, hw, wbits, abits, out_bits)  # a CPU keeps no tensor on chip across layers


def bits_per_layer(layers: list[Layer], bits: Bits | Mapping[str, Bits]) -> dict[str, Bits]:
    """Expand one (w, a) pair to every layer, or check a per-layer mapping covers them all."""
    if isinstance(bits, tuple):
        pair = Bits.of(bits)
        return {layer.name: pair for layer in layers}
    missing = [layer.name for layer in layers if layer.name not in bits]
    if missing:
        raise HwsimError(f"bit assignment has no entry for layer(s): {', '.join(missing[:5])}"
                         + (" ..." if len(missing) > 5 else ""))
    return {layer.name: Bits.of(bits[layer.name], f"bits of {layer.name}") for layer in layers}


def on_chip_bits(hw: HardwareConfig) -> float:
    """Bits an activation tensor may have to stay on chip between two layers (0: never)."""
    return hw.on_chip_bits()


W8A8 = Bits(8, 8)


def simulate_network(layers: Iterable[Layer], hw: HardwareConfig, bits: Bits | Mapping[str, Bits] = W8A8,
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
    return NetworkResult(hardware=hw.name, dataflow=hw.run_label, clock_mhz=hw.clock_mhz, layers=results,
                         area_mm2=hw.area_mm2())
