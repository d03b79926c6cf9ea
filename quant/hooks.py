"""Observing a model's forward pass: hooks that are always removed, and that never alter it."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterable

from torch import nn


@contextlib.contextmanager
def observing(pairs: Iterable[tuple[nn.Module, Callable]], pre: bool = False):
    """Within the block, call ``fn(name_or_module, inputs[, output])`` around each module's forward.

    ``pairs`` are (module, fn); ``pre=True`` calls fn(inputs) before the forward, else
    fn(inputs, output) after it.  Return values of ``fn`` are dropped (a hook that returns
    something would replace the module's input or output), and every hook is removed on exit.
    """
    handles = []
    for module, fn in pairs:
        if pre:
            handles.append(module.register_forward_pre_hook(lambda m, i, fn=fn: (fn(i), None)[1]))
        else:
            handles.append(module.register_forward_hook(lambda m, i, o, fn=fn: (fn(i, o), None)[1]))
    try:
        yield
    finally:
        for h in handles:
            h.remove()
