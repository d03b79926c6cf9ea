"""Forward passes that skip a model's unchanged FP prefix: module outputs recorded once, handed back after.

Measuring what quantizing one layer costs (:mod:`.sensitivity.brecq`) runs the whole model once per
layer and bit choice, though everything that runs before that layer is the FP model, the same in
every pass.  :class:`PrefixReplay` runs the model once in FP over the samples and keeps the outputs
of the modules that finish before a measured layer starts; a later pass gives each such module its
recorded output instead of running it.  The numbers are those of a full pass (the same kernels ran
on the same batches to make them), in a fraction of the time for layers deep in the network.

Only modules that run exactly once per forward pass and return one tensor are replayed; a module
the recording would not fit in memory for (a quarter of what is available, at most
:data:`.memo.MAX_BYTES`) is simply run.
"""

from __future__ import annotations

import collections
import contextlib

import torch
from torch import nn

from hwsim.resources import available_memory_bytes

from . import memo
from .hooks import observing, snapshot


class PrefixReplay:
    """Recorded FP outputs of ``model``'s modules on ``x`` (in batches of ``batch``), for the layer sets ``targets``.

    ``model`` must run in FP while it is recorded (every quantizer off); a pass through :meth:`replayed`
    is exact as long as every module it replays is still FP.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, targets: list[set[str]], batch: int = 256):
        self.batch = batch
        modules = [(n, m) for n, m in model.named_modules() if n]
        calls: collections.Counter = collections.Counter()
        start: dict[str, int] = {}
        end: dict[str, int] = {}
        per_sample: dict[str, int] = {}
        clock = [0]

        def began(name):
            calls[name] += 1
            start.setdefault(name, clock[0])
            clock[0] += 1

        def ended(name, out):
            end.setdefault(name, clock[0])
            clock[0] += 1
            if isinstance(out, torch.Tensor) and out.dim() > 0:
                per_sample[name] = out[:1].numel() * out.element_size()

        with observing([(m, lambda i, n=n: began(n)) for n, m in modules], pre=True), \
                observing([(m, lambda i, o, n=n: ended(n, o)) for n, m in modules]), torch.no_grad():
            model(x[:2])
        once = {n for n in calls if calls[n] == 1 and n in per_sample}
        self.plans: dict[frozenset, list[str]] = {}
        for target in targets:
            first = min((start[t] for t in target if t in start), default=None)
            done = set() if first is None else {n for n in once if end[n] < first}
            # the outermost ones: a module whose parent is replayed runs inside it anyway
            self.plans[frozenset(target)] = sorted(n for n in done if not any(n.startswith(p + ".") for p in done))
        needed = sorted({n for plan in self.plans.values() for n in plan})
        limit = min(memo.MAX_BYTES, available_memory_bytes() // 4)
        if sum(per_sample[n] for n in needed) * len(x) > limit:
            self.plans, needed = {}, []
        self.outputs: dict[str, list[torch.Tensor]] = {n: [] for n in needed}
        named = dict(modules)
        with observing([(named[n], lambda i, o, n=n: self.outputs[n].append(snapshot(o))) for n in needed]), \
                torch.no_grad():
            for i in range(0, len(x), batch):
                model(x[i:i + batch])

    @contextlib.contextmanager
    def replayed(self, model: nn.Module, target: set[str], batch_index: int):
        """Within the block, the modules that finish before ``target``'s layers start return their recorded output
        for batch ``batch_index`` (a copy) instead of running."""
        names = self.plans.get(frozenset(target), [])
        patched = []
        try:
            for n in names:
                module = model.get_submodule(n)
                recorded = self.outputs[n][batch_index]
                module.forward = lambda *args, recorded=recorded, **kwargs: recorded.clone()
                patched.append(module)
            yield
        finally:
            for module in patched:
                del module.forward
