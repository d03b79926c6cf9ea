"""The embedded default model: a narrow ResNet (basic blocks, three stages of 6/12/24 channels) for noisy digits.

Narrow on purpose: a network with little redundancy is one on which low precision costs
accuracy, which is what the co-design flow has to trade against latency.  Trained on 2 CPU cores
in about 15 s to about 87% test accuracy on the noisy, distorted digits task (quant/data.py), then
shipped with the package (``quant/weights/``, made by ``scripts/train_digits.py``), so every machine starts from
the same weights; another seed or recipe is trained once and cached.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm


from .data import DIGITS_TASK, DataBundle
from .reproducible import pin_torch

RECIPE = {"arch": "digits-resnet", "widths": [6, 12, 24], "blocks": 2, "epochs": 20, "batch": 64, "lr": 0.05,
          "weight_decay": 5e-4, "task": DIGITS_TASK, "version": 2}


class BasicBlock(nn.Module):
    """3x3 conv - BN - ReLU - 3x3 conv - BN, plus identity or 1x1 projection, then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=False)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class DigitsResNet(nn.Module):
    """Stem conv, three stages of basic blocks (6/12/24 channels at 16/8/4 pixels), pooling, linear head."""

    def __init__(self, widths=(6, 12, 24), blocks: int = 2, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=False)
        stages, cin = [], widths[0]
        for i, w in enumerate(widths):
            stages.append(nn.Sequential(*[BasicBlock(cin if b == 0 else w, w, 2 if (b == 0 and i > 0) else 1)
                                          for b in range(blocks)]))
            cin = w
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def default_digits_model(num_classes: int = 10) -> DigitsResNet:
    """An untrained digits model with the recipe's architecture (its layer shapes are what simulation needs)."""
    return DigitsResNet(tuple(RECIPE["widths"]), RECIPE["blocks"], num_classes)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 256) -> float:
    """Top-1 accuracy in [0, 1]."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(y)


def train_digits_model(data: DataBundle, seed: int = 0, progress: bool = True) -> DigitsResNet:
    """Train the digits ResNet from scratch with SGD + cosine schedule (deterministic for a seed)."""
    pin_torch()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = DigitsResNet(tuple(RECIPE["widths"]), RECIPE["blocks"], data.num_classes)
    opt = torch.optim.SGD(model.parameters(), lr=RECIPE["lr"], momentum=0.9, weight_decay=RECIPE["weight_decay"],
                          nesterov=True)
    steps = RECIPE["epochs"] * ((len(data.train_y) + RECIPE["batch"] - 1) // RECIPE["batch"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, RECIPE["lr"], total_steps=steps)
    bar = tqdm(range(RECIPE["epochs"]), desc="train digits-resnet", unit="epoch", disable=not progress,
               file=sys.stderr)
    for _ in bar:
        model.train()
        order = torch.randperm(len(data.train_y), generator=gen)
        for i in range(0, len(order), RECIPE["batch"]):
            idx = order[i:i + RECIPE["batch"]]
            xb = data.train_x[idx] if data.augment is None else data.augment(data.train_x[idx], gen)
            loss = F.cross_entropy(model(xb), data.train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    return model


WEIGHTS = Path(__file__).parent / "weights"  # shipped trained weights: scripts/train_digits.py writes them
SHIPPED_SEEDS = (0,)
# test top-1 points a retrained model may differ from the shipped one (bit-identical with the pinned kernels of the
# torch release that made it; another torch release may change the kernels' float order)
RETRAIN_TOLERANCE = 1.0


def recipe_key(seed: int) -> str:
    """Hash (16 hex digits) of the training recipe, the task and the seed: what the trained weights depend on."""
    return hashlib.sha256(json.dumps({**RECIPE, "seed": seed}, sort_keys=True).encode()).hexdigest()[:16]


def shipped_weights(seed: int) -> tuple[Path, dict] | None:
    """(weights file, its record) shipped with the package for ``seed``, if this recipe's weights are shipped."""
    record_path = WEIGHTS / f"digits-resnet-seed{seed}.json"
    if not record_path.is_file():
        return None
    record = json.loads(record_path.read_text(encoding="utf-8"))
    if record.get("recipe_key") != recipe_key(seed):
        return None  # the recipe changed since the weights were made: train instead (a test flags it)
    return WEIGHTS / record["file"], record


def state_bytes(model: nn.Module) -> bytes:
    """A model's state dict as the bytes torch.save writes."""
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getvalue()


def _load_state(model: nn.Module, payload: bytes) -> str | None:
    try:
        model.load_state_dict(torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True))
    except Exception as exc:  # a damaged or foreign file: not a model of this architecture
        return f"not a state dict of this architecture ({type(exc).__name__})"
    return None


def digits_model(data: DataBundle, cache_dir: Path | None = None, seed: int = 0, progress: bool = True) -> DigitsResNet:
    """The trained digits model: the weights shipped with the package (checked by their SHA-256) for the shipped
    seeds, else trained once and kept in the checked cache under ``cache_dir``."""
    from hwsim.cache import Cache, warn

    model = DigitsResNet(tuple(RECIPE["widths"]), RECIPE["blocks"], data.num_classes)
    shipped = shipped_weights(seed)
    if shipped is not None:
        path, record = shipped
        payload = path.read_bytes() if path.is_file() else b""
        reason = "its SHA-256 does not match its record" if hashlib.sha256(payload).hexdigest() != record["sha256"] \
            else _load_state(model, payload)
        if reason is None:
            return model.eval()
        warn(f"shipped weights {path} are damaged: {reason}; training the model instead")
    cache = Cache(cache_dir)
    key = {"model": "digits-resnet", "recipe": recipe_key(seed)}
    payload = cache.get_bytes("digits-model", key, lambda: state_bytes(train_digits_model(data, seed, progress)),
                              check=lambda b: _load_state(model, b))
    if cache.last != "hit":
        _load_state(model, payload)
    return model.eval()
