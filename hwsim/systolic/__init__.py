"""The precision-scalable systolic array: mapping (mapping.py), cycle kernel (kernel.py), DRAM pipeline
(memory.py), compiled schedule search (schedule_search.py), Python front (simulate.py).  Networks go through
:func:`hwsim.targets.simulate_network`."""

from ._numba_cache import use_code_keyed_cache

use_code_keyed_cache()  # before the compiled modules below are imported (numba picks a cache folder per function then)

from .simulate import clear_schedule_cache, simulate_layer  # noqa: E402

__all__ = ["clear_schedule_cache", "simulate_layer"]
