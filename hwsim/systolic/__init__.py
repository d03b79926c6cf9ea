"""The precision-scalable systolic array: mapping (mapping.py), cycle kernel (kernel.py), DRAM pipeline
(memory.py), Python front (simulate.py).  Networks go through :func:`hwsim.targets.simulate_network`."""

from .simulate import simulate_layer

__all__ = ["simulate_layer"]
