"""A sweep point's workload: its layers and its bits, cached per process."""

from __future__ import annotations

import functools

from hwsim.precision import load_bits_file, parse_label
from hwsim.workload import layers_of


BITS_SUFFIXES = (".yaml", ".yml", ".json")  # a precision naming a bits file (else a w<bits>a<bits> label)


@functools.lru_cache(maxsize=64)
def model_layers(model: str, input_size: int | None) -> tuple:
    """The layers of a built-in model (at ``input_size``, default 224) or of a topology CSV (cached per process)."""
    return tuple(layers_of(model, input_size))


@functools.lru_cache(maxsize=64)
def point_bits(precision: str, model: str, input_size: int | None):
    """A uniform (w, a) pair from a label, or the per-layer mapping of a bits file for ``model``."""
    if precision.endswith(BITS_SUFFIXES):
        return load_bits_file(precision, [layer.name for layer in model_layers(model, input_size)])
    return parse_label(precision)
