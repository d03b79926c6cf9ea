"""The precision-scalable systolic array: mapping (mapping.py), cycle kernel (kernel.py), front (simulate.py)."""

from .simulate import simulate_layer, simulate_network

__all__ = ["simulate_layer", "simulate_network"]
