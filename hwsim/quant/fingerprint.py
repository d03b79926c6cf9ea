"""One fingerprint of a model's weights, used by every cache key that depends on them."""

from __future__ import annotations

import hashlib

from torch import nn


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 (16 hex digits) of the model's state dict: names, shapes, dtypes and exact values."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]
