"""FP work shared by every quantization of one model in a process, computed once.

Quantizing one model at many bit-widths (the pipeline's nine uniform choices and its searched
configs, the sensitivity methods, a notebook's loop) repeats computations that depend only on the
FP model and the data, never on the bits: each unit's FP output and Fisher weights, each
activation quantizer's calibration inputs and their step search at a given bit-width, the FP
accuracy.  They are kept here under keys that hold everything that decides them (the folded
model's fingerprint, the exact bytes of the data, torch's thread count and kernel pinning), so a
repeat returns the very values a recomputation would give; tests/test_quant_memo.py checks that a
warm cache and a cold one quantize to bitwise-equal models.

Entries are bounded in bytes, least recently used first out: at most a quarter of the memory
available when an entry is added, never more than :data:`MAX_BYTES`.  Values are shared: callers
must not modify them in place.
"""

from __future__ import annotations

import collections
import hashlib
from typing import Any, Callable, Hashable

import torch

from hwsim.resources import available_memory_bytes

from .reproducible import pinned

MAX_BYTES = 2 * 2 ** 30


def data_fingerprint(*tensors: torch.Tensor) -> str:
    """SHA-256 (16 hex digits) of the tensors' shapes, dtypes and exact values."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _nbytes(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    return 64


class _Store:
    """A byte-bounded least-recently-used map."""

    def __init__(self) -> None:
        self.items: collections.OrderedDict[Hashable, tuple[Any, int]] = collections.OrderedDict()
        self.bytes = 0
        self.hits = self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        if key in self.items:
            self.items.move_to_end(key)
            self.hits += 1
            return self.items[key][0]
        self.misses += 1
        value = compute()
        size = _nbytes(value)
        limit = min(MAX_BYTES, available_memory_bytes() // 4)
        if size <= limit:
            self.items[key] = (value, size)
            self.bytes += size
            while self.bytes > limit:
                _, (_, s) = self.items.popitem(last=False)
                self.bytes -= s
        return value

    def peek(self, key: Hashable) -> Any:
        if key not in self.items:
            return None
        self.items.move_to_end(key)
        self.hits += 1
        return self.items[key][0]


_STORE = _Store()


def _full(key: tuple) -> tuple:
    return key + (torch.get_num_threads(), pinned())  # the thread count and pinning decide the floats


def cached(key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()``'s value under ``key`` (plus the torch thread count and pinning), computed once."""
    return _STORE.get(_full(key), compute)


def lookup(key: tuple) -> Any:
    """The value held under ``key`` (as given to :func:`cached`), or None."""
    return _STORE.peek(_full(key))


def clear() -> None:
    """Forget every entry (tests compare a cold cache with a warm one)."""
    _STORE.items.clear()
    _STORE.bytes = _STORE.hits = _STORE.misses = 0


def stats() -> dict:
    """Entries, bytes held, hits and misses since the last :func:`clear`."""
    return {"entries": len(_STORE.items), "bytes": _STORE.bytes, "hits": _STORE.hits, "misses": _STORE.misses}
