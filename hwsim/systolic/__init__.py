"""The precision-scalable systolic array: mapping (mapping.py), cycle kernel (kernel.py), DRAM pipeline
(memory.py), Python front (simulate.py).  Networks go through :func:`hwsim.targets.simulate_network`."""

from .simulate import clear_schedule_cache, simulate_layer

__all__ = ["clear_schedule_cache", "simulate_layer"]
