"""codesign: the application layer. The end-to-end pipeline (tables -> sensitivities -> search ->
quantize -> validate) and its report, and the joint hardware x bit-width co-design; the only package besides the
CLI that imports the simulator, quant and search together.

Entry points: :func:`run_pipeline` with a :class:`PipelineConfig` (``hwsim pipeline``), :func:`run_joint` with a
:class:`JointConfig` (``hwsim codesign``).
"""

from hwsim._lazy import lazy_exports

_EXPORTS = {"run_pipeline": ".pipeline", "PipelineConfig": ".pipeline", "run_joint": ".joint", "JointConfig": ".joint"}
__all__ = ["run_pipeline", "PipelineConfig", "run_joint", "JointConfig"]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
