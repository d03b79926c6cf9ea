"""Data for calibration and evaluation: the embedded digits set, or a user's ImageFolder tree.

Everything is materialised as tensors (small data sets; no DataLoader workers needed on 2 cores).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hwsim.errors import HwsimError

DIGITS_SIZE = 16  # 8x8 digits are upsampled to 16x16
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".webp")


@dataclasses.dataclass
class DataBundle:
    """Train, calibration and test tensors (images N x C x H x W, labels N)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    calib_x: torch.Tensor
    calib_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    name: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one batch of one image: (1, C, H, W)."""
        return (1, *self.test_x.shape[1:])


def digits(calib_size: int = 512, seed: int = 0) -> DataBundle:
    """scikit-learn's bundled 8x8 digits, upsampled to 16x16, normalised; fixed 80/20 train/test split.

    The calibration set is ``calib_size`` images drawn from the training split (as BRECQ draws
    its 1024 from ImageNet's training set); the split and the draw depend only on ``seed``.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(DIGITS_SIZE, DIGITS_SIZE), mode="bilinear", align_corners=False)
    x = (x - 0.3) / 0.35  # about zero mean, unit variance
    y = torch.tensor(d.target, dtype=torch.long)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = len(y) // 5
    test, train = order[:n_test], order[n_test:]
    calib = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(seed + 1))[:calib_size]]
    return DataBundle(x[train], y[train], x[calib], y[calib], x[test], y[test], 10, "digits")


def _load_image(path: Path, size: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        w, h = img.size
        scale = (size * 256 // 224) / min(w, h)  # resize shorter side to 256/224 of the crop, then centre-crop
        img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
        w, h = img.size
        left, top = (w - size) // 2, (h - size) // 2
        img = img.crop((left, top, left + size, top + size))
        arr = np.asarray(img, dtype=np.float32) / 255.0
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    return ((arr - mean) / std).transpose(2, 0, 1)


def _folder(root: Path, size: int, classes: list[str] | None, limit: int | None, seed: int):
    if not root.is_dir():
        raise HwsimError(f"{root}: not a directory; an ImageFolder tree has one sub-folder per class")
    found = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not found:
        raise HwsimError(f"{root}: no class sub-folders found")
    if classes is not None and found != classes:
        raise HwsimError(f"{root}: classes {found[:5]}... differ from the training split's {classes[:5]}...")
    items = [(p, i) for i, c in enumerate(found) for p in sorted((root / c).iterdir())
             if p.suffix.lower() in IMAGE_EXTENSIONS]
    if not items:
        raise HwsimError(f"{root}: no images ({', '.join(IMAGE_EXTENSIONS)}) in the class folders")
    if limit is not None and len(items) > limit:
        pick = np.random.default_rng(seed).choice(len(items), size=limit, replace=False)
        items = [items[i] for i in sorted(pick)]
    x = torch.tensor(np.stack([_load_image(p, size) for p, _ in items]))
    y = torch.tensor([i for _, i in items], dtype=torch.long)
    return x, y, found


def image_folder(root: str | Path, size: int = 224, calib_size: int = 1024, test_limit: int | None = None,
                 seed: int = 0) -> DataBundle:
    """An ImageFolder tree with ``train/`` (calibration images are drawn from it) and ``val/`` sub-folders."""
    root = Path(root)
    if not (root / "train").is_dir() or not (root / "val").is_dir():
        raise HwsimError(f"{root}: expected train/ and val/ sub-folders, each with one folder per class")
    cx, cy, classes = _folder(root / "train", size, None, calib_size, seed)
    tx, ty, _ = _folder(root / "val", size, classes, test_limit, seed)
    return DataBundle(cx, cy, cx, cy, tx, ty, len(classes), str(root))
