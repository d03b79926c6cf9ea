"""Where models and data come from: the embedded digits default, or a named architecture with the
user's checkpoint and ImageFolder data.  Every mismatch is a clear HwsimError."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from hwsim.errors import HwsimError
from hwsim.io import default_cache_dir

from .data import DataBundle, digits, image_folder
from .digits_model import RECIPE, DigitsResNet, digits_model

DEFAULT_MODEL = "digits-resnet"


def _load_checkpoint(model: nn.Module, path: Path, trust: bool = False) -> None:
    """Load a state dict into ``model``: tensors and plain data only, unless ``trust`` (a full pickle, which can run
    code; a saved module gives its state dict)."""
    import pickle

    if not path.is_file():
        raise HwsimError(f"{path}: checkpoint file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as exc:
        if not trust and "weights_only" in str(exc):
            raise HwsimError(f"{path}: holds pickled objects beyond tensors and plain data, which could run code when "
                             f"loaded; allowed: a state dict, or --trust-checkpoint for a file you trust") from None
        raise HwsimError(f"{path}: not a readable PyTorch checkpoint (UnpicklingError)") from None
    except Exception as exc:
        raise HwsimError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__})") from None
    if isinstance(state, nn.Module):
        state = state.state_dict()
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise HwsimError(f"{path}: expected a state dict (or {{'state_dict': ...}})")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise HwsimError(f"{path}: does not match the architecture: missing {missing[:3]}, unexpected {unexpected[:3]}")
    for k, v in state.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise HwsimError(f"{path}: {k} has shape {tuple(v.shape)}, the architecture needs {tuple(own[k].shape)}"
                             + (" (the number of classes differs from the data's)" if v.dim() and k.endswith(
                                 ("fc.weight", "fc.bias", "classifier.1.weight", "classifier.1.bias")) else ""))
    model.load_state_dict(state)


def check_model_source(model: str = DEFAULT_MODEL, checkpoint: str | None = None, data: str | None = None) -> None:
    """The cheap checks of ``load_model_and_data``'s arguments (known model, files that exist), so that a
    command can refuse them before it makes its output folder or trains anything."""
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise HwsimError(f"{checkpoint}: checkpoint file not found")
    if model == DEFAULT_MODEL:
        if data is not None:
            raise HwsimError(f"{DEFAULT_MODEL} is trained on the embedded digits set; --data is for other models")
        return
    from hwsim.workload import build_named_model

    build_named_model(model)  # an unknown name fails here, naming the known ones
    if data is None:
        raise HwsimError(f"model {model!r} needs --data DIR: an ImageFolder tree with train/ and val/ sub-folders")
    if not Path(data).is_dir():
        raise HwsimError(f"{data}: data folder not found; allowed: an ImageFolder tree with train/ and val/")
    if checkpoint is None:
        raise HwsimError(f"model {model!r} has no pretrained weights here; give --checkpoint FILE (a state dict)")


def load_model_and_data(model: str = DEFAULT_MODEL, checkpoint: str | None = None, data: str | None = None,
                        cache_dir: Path | None = None, seed: int = 0, calib_size: int | None = None,
                        progress: bool = True, trust_checkpoint: bool = False) -> tuple[nn.Module, DataBundle]:
    """(eval-mode model, data) for a model name; the digits model trains once and is cached."""
    if model == DEFAULT_MODEL:
        if data is not None:
            raise HwsimError(f"{DEFAULT_MODEL} is trained on the embedded digits set; --data is for other models")
        bundle = digits(calib_size or 512, seed)
        if checkpoint:
            net = DigitsResNet(tuple(RECIPE["widths"]), RECIPE["blocks"], bundle.num_classes)
            _load_checkpoint(net, Path(checkpoint), trust_checkpoint)
            return net.eval(), bundle
        return digits_model(bundle, cache_dir or default_cache_dir(), seed, progress), bundle
    from hwsim.workload import build_named_model

    check_model_source(model, checkpoint, data)  # before data and weights
    bundle = image_folder(data, calib_size=calib_size or 1024, seed=seed, progress=progress)
    net = build_named_model(model, num_classes=bundle.num_classes)
    _load_checkpoint(net, Path(checkpoint), trust_checkpoint)
    return net.eval(), bundle
