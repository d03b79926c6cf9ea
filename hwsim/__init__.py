"""hwsim: hardware-in-the-loop quantization co-design.

The simulator is this package's own modules: a network becomes GEMM layers (:mod:`hwsim.workload`), a validated
hardware description is loaded (:mod:`hwsim.config`), and each layer is timed on a precision-scalable systolic
array (:mod:`hwsim.systolic`) or an ARM Cortex-A53 (:mod:`hwsim.arm`); lookup tables (:mod:`hwsim.lut`) hold
every layer at every precision.  Above it, each a subpackage: :mod:`hwsim.search` (bit-width search),
:mod:`hwsim.quant` (post-training quantization, needs torch), :mod:`hwsim.explore` (design-space sweeps),
:mod:`hwsim.codesign` (the pipeline and joint hardware x bits co-design) and :mod:`hwsim.cli`.

``import hwsim`` is fast and needs no torch: the names below load their module on first use.

>>> import hwsim
>>> hw = hwsim.load_config("bitfusion_16x32")
>>> result = hwsim.simulate("resnet18", hw, "w4a4")
>>> round(result.latency_ms, 3) > 0
True
>>> result.layers[0].schedule.dataflow  # the schedule each layer ran, as data
'os'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> the module that defines it (loaded on first use, so `import hwsim` stays light)
_EXPORTS = {
    "load_config": "hwsim.config",
    "config_names": "hwsim.shipped",
    "hardware": "hwsim.api",
    "Layer": "hwsim.layers",
    "model_layers": "hwsim.api",
    "topology_layers": "hwsim.api",
    "module_layers": "hwsim.api",
    "layers_of": "hwsim.api",
    "simulate": "hwsim.api",
    "lookup_table": "hwsim.api",
    "Bits": "hwsim.precision",
    "LayerResult": "hwsim.results",
    "NetworkResult": "hwsim.results",
    "Schedule": "hwsim.results",
    "HwsimError": "hwsim.errors",
    "ConfigError": "hwsim.errors",
}

__all__ = [  # the names of _EXPORTS, written out for tools that read __all__ without running it (a test checks)
    "__version__", "load_config", "config_names", "hardware", "Layer", "model_layers", "topology_layers",
    "module_layers", "layers_of", "simulate", "lookup_table", "Bits", "LayerResult", "NetworkResult", "Schedule",
    "HwsimError", "ConfigError",
]

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ loads the same names
    from .api import hardware, layers_of, lookup_table, model_layers, module_layers, simulate, topology_layers
    from .config import load_config
    from .errors import ConfigError, HwsimError
    from .layers import Layer
    from .precision import Bits
    from .results import LayerResult, NetworkResult, Schedule
    from .shipped import config_names


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
