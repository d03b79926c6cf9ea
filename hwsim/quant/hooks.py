"""Observing a model's forward pass: hooks that are always removed, and captures that cannot be altered.

Every tensor this package keeps from a forward pass goes through :func:`snapshot` (a detached
copy) or :func:`retaining_output` (the module's output is kept and the rest of the model is given
a copy).  Either way an in-place operation later in the model (``ReLU(inplace=True)`` after a
BN folded into an Identity, torchvision's ``out += identity``) cannot change what was captured.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterable

import torch
from torch import nn


def snapshot(t: torch.Tensor) -> torch.Tensor:
    """A detached copy of ``t`` that no later in-place operation can alter."""
    return t.detach().clone()


@contextlib.contextmanager
def observing(pairs: Iterable[tuple[nn.Module, Callable]], pre: bool = False):
    """Within the block, call ``fn(inputs[, output])`` around each module's forward.

    ``pairs`` are (module, fn); ``pre=True`` calls fn(inputs) before the forward, else
    fn(inputs, output) after it.  Return values of ``fn`` are dropped (a hook that returns
    something would replace the module's input or output), and every hook is removed on exit.
    ``fn`` must not keep the tensors it is given: keep :func:`snapshot` copies.
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


@contextlib.contextmanager
def retaining_output(module: nn.Module, store: list):
    """Within the block, append each output tensor of ``module`` to ``store`` with its gradient retained.

    The rest of the model receives a copy of the output, so in-place operations downstream
    touch the copy; the stored tensor keeps its value and ``.grad`` is the gradient with
    respect to that value.
    """

    def hook(m, inputs, output):
        if output.requires_grad:
            output.retain_grad()
        store.append(output)
        return output.clone()

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
