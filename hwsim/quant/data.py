"""Data for calibration and evaluation: the embedded digits set, or a user's ImageFolder tree.

Everything is materialised as tensors (small data sets; no DataLoader workers needed on 2 cores).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hwsim.errors import HwsimError

from .reproducible import pin_torch

DIGITS_SIZE = 16  # 8x8 digits are upsampled to 16x16
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".webp")
# The embedded task: noisy, distorted digits (see digits()).  Part of the digits model's cache key.
DIGITS_TASK = {"size": DIGITS_SIZE, "rotate_deg": 25.0, "shift": 0.15, "scale": 0.12, "noise": 0.4,
               "test_views": 8, "holdout_views": 8, "split": [0.6, 0.2, 0.2], "version": 2}
_MEAN, _STD = 0.3, 0.35  # about zero mean, unit variance after normalisation


@dataclasses.dataclass
class DataBundle:
    """Train, calibration, held-out and test tensors (images N x C x H x W, labels N).

    ``holdout`` is disjoint from the calibration images (and, for digits, from training): the
    sensitivities are measured on it, never on what reconstruction fitted.  ``augment`` (if set)
    maps a batch of training images and a generator to a randomly distorted batch.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    calib_x: torch.Tensor
    calib_y: torch.Tensor
    holdout_x: torch.Tensor
    holdout_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    name: str
    augment: object = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one batch of one image: (1, C, H, W)."""
        return (1, *self.test_x.shape[1:])


def distort(x: torch.Tensor, gen: torch.Generator, rotate_deg: float = DIGITS_TASK["rotate_deg"],
            shift: float = DIGITS_TASK["shift"], scale: float = DIGITS_TASK["scale"],
            noise: float = DIGITS_TASK["noise"], **_) -> torch.Tensor:
    """Each image of ``x`` (values in [0, 1]) rotated, shifted and scaled at random, plus Gaussian pixel noise.

    Rotation uniform in +-rotate_deg, shift uniform in +-shift of the half-width, zoom uniform in
    1 +- scale, noise standard deviation ``noise``; the result is normalised.
    """
    n = len(x)
    ang = (torch.rand(n, generator=gen) * 2 - 1) * rotate_deg * math.pi / 180
    zoom = 1 + (torch.rand(n, generator=gen) * 2 - 1) * scale
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = torch.cos(ang) / zoom, -torch.sin(ang) / zoom
    theta[:, 1, 0], theta[:, 1, 1] = torch.sin(ang) / zoom, torch.cos(ang) / zoom
    theta[:, :, 2] = (torch.rand(n, 2, generator=gen) * 2 - 1) * shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
    out = out + noise * torch.randn(out.shape, generator=gen)
    return (out - _MEAN) / _STD


def digits(calib_size: int = 512, seed: int = 0) -> DataBundle:
    """The embedded task: scikit-learn's bundled 8x8 digits, upsampled to 16x16, seen distorted and noisy.

    The 1,797 images are split 60/20/20 into train, held-out and test *originals* (no digit
    image is in two splits).  Each test original is seen in 8 fixed random views and each
    held-out original in 8 (rotation +-25 deg, shift, zoom +-12%, noise sd 0.4: see
    :func:`distort`), so the test set has 2,872 images and one image is 0.035 points.  Training
    draws a fresh view of every image at every step; the ``calib_size`` calibration images are
    one view each of training originals (as BRECQ draws its 1,024 from ImageNet's augmented
    training loader).  Everything depends only on ``seed``.
    """
    from sklearn.datasets import load_digits

    pin_torch()
    task = DIGITS_TASK
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(task["size"], task["size"]), mode="bilinear", align_corners=False)
    y = torch.tensor(d.target, dtype=torch.long)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = n_hold = round(len(y) * task["split"][2])
    test, hold, train = order[:n_test], order[n_test:n_test + n_hold], order[n_test + n_hold:]
    gen = lambda k: torch.Generator().manual_seed(seed * 10 + k)  # one stream per split: independent draws
    views = lambda idx, k, g: (distort(x[idx].repeat(k, 1, 1, 1), g), y[idx].repeat(k))
    test_x, test_y = views(test, task["test_views"], gen(1))
    hold_x, hold_y = views(hold, task["holdout_views"], gen(2))
    g = gen(3)
    calib = train[torch.randperm(len(train), generator=g)[:calib_size]]
    calib_x, calib_y = views(calib, 1, g)
    return DataBundle(x[train], y[train], calib_x, calib_y, hold_x, hold_y, test_x, test_y, 10, "digits-noisy",
                      augment=distort)


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


def _folder(root: Path, size: int, classes: list[str] | None, limit: int | None, seed: int, progress: bool = False):
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
    from tqdm import tqdm

    images = []
    for p, _ in tqdm(items, desc=f"read {root.name}", unit="img", disable=not progress, file=sys.stderr):
        try:
            images.append(_load_image(p, size))
        except Exception as exc:  # PIL raises many types on a broken file
            raise HwsimError(f"{p}: not a readable image ({type(exc).__name__})") from None
    x = torch.tensor(np.stack(images))
    y = torch.tensor([i for _, i in items], dtype=torch.long)
    return x, y, found


def image_folder(root: str | Path, size: int = 224, calib_size: int = 1024, holdout_size: int = 1024,
                 test_limit: int | None = None, seed: int = 0, progress: bool = False) -> DataBundle:
    """An ImageFolder tree with ``train/`` and ``val/`` sub-folders.

    Calibration and held-out images are two disjoint random draws from ``train/`` (the
    held-out one gets what is left when the folder has fewer than both sizes); ``val/`` is the test set.
    """
    pin_torch()
    root = Path(root)
    if not (root / "train").is_dir() or not (root / "val").is_dir():
        raise HwsimError(f"{root}: expected train/ and val/ sub-folders, each with one folder per class")
    x, y, classes = _folder(root / "train", size, None, calib_size + holdout_size, seed, progress)
    if len(y) < 2:
        raise HwsimError(f"{root / 'train'}: needs at least 2 images (calibration and held-out)")
    pick = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_cal = min(calib_size, len(y) - max(1, min(holdout_size, len(y) // 2)))
    cal, hold = pick[:n_cal], pick[n_cal:]
    tx, ty, _ = _folder(root / "val", size, classes, test_limit, seed, progress)
    return DataBundle(x[cal], y[cal], x[cal], y[cal], x[hold], y[hold], tx, ty, len(classes), str(root))
