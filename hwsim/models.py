"""Pure-PyTorch builders of a few torchvision classification architectures.

The networks defined here reproduce the structure of torchvision's
``resnet18``, ``resnet50`` and ``mobilenet_v2`` models, and ``regnet_x_600mf`` in the same style
(torchvision has no 600MF RegNetX; this one follows pycls, as BRECQ used), and ``mobilenet_v1``
(torchvision has none either; this one is the MobileNet 1.0 224 of Howard et al. 2017, the graph of
ncnn's and TensorFlow's benchmarks):
the same module names, layer shapes and parameter counts. They are written
independently so that no torchvision install is needed (torchvision can not
always be installed next to a CPU-only torch). No pretrained weights are
provided; parameters are initialised the way torchvision initialises them,
so results are deterministic for a given ``torch.manual_seed``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence, Type, Union

import torch
from torch import nn

__all__ = [
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "regnet_x_600mf",
    "mobilenet_v1",
    "MODEL_BUILDERS",
    "build_model",
]


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------


def _conv_bn_act(
    in_ch: int,
    out_ch: int,
    kernel_size: int = 3,
    stride: int = 1,
    groups: int = 1,
    activation: Optional[Type[nn.Module]] = nn.ReLU,
) -> nn.Sequential:
    """Conv (no bias) + BatchNorm (+ activation) as a Sequential indexed 0, 1, 2.

    Mirrors the layout of torchvision's ``Conv2dNormActivation``.
    """
    layers: List[nn.Module] = [
        nn.Conv2d(
            in_ch,
            out_ch,
            kernel_size,
            stride=stride,
            padding=(kernel_size - 1) // 2,
            groups=groups,
            bias=False,
        ),
        nn.BatchNorm2d(out_ch),
    ]
    if activation is not None:
        layers.append(activation(inplace=True))
    return nn.Sequential(*layers)


def _init_weights(model: nn.Module, linear_std: float = 0.01) -> None:
    """Kaiming-normal (fan_out) convs, unit/zero BatchNorm, small-normal linears."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, linear_std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


# ---------------------------------------------------------------------------
# ResNet (v1.5: stride in the 3x3 convolution of the bottleneck)
# ---------------------------------------------------------------------------


def _conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)


def _conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity/projection shortcut (ResNet-18/34)."""

    expansion = 1

    def __init__(
        self, in_ch: int, width: int, stride: int = 1, downsample: Optional[nn.Module] = None
    ) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_ch, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(width, width)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand (x4) with a shortcut (ResNet-50+)."""

    expansion = 4

    def __init__(
        self, in_ch: int, width: int, stride: int = 1, downsample: Optional[nn.Module] = None
    ) -> None:
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = _conv1x1(in_ch, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = _conv1x1(width, out_ch)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet with torchvision's module naming (conv1, bn1, ..., layer1-4, fc)."""

    def __init__(
        self,
        block: Type[Union[BasicBlock, Bottleneck]],
        layers: Sequence[int],
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0], stride=1)
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        _init_weights(self)

    def _make_layer(
        self, block: Type[Union[BasicBlock, Bottleneck]], width: int, depth: int, stride: int
    ) -> nn.Sequential:
        out_ch = width * block.expansion
        downsample = None
        if stride != 1 or self.inplanes != out_ch:
            downsample = nn.Sequential(
                _conv1x1(self.inplanes, out_ch, stride), nn.BatchNorm2d(out_ch)
            )
        blocks = [block(self.inplanes, width, stride, downsample)]
        self.inplanes = out_ch
        for _ in range(1, depth):
            blocks.append(block(self.inplanes, width))
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def resnet18(num_classes: int = 1000) -> ResNet:
    """Build ResNet-18 (torchvision layout, 11,689,512 params at 1000 classes)."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes)


def resnet50(num_classes: int = 1000) -> ResNet:
    """Build ResNet-50 v1.5 (torchvision layout, 25,557,032 params at 1000 classes)."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes)


# ---------------------------------------------------------------------------
# MobileNetV2
# ---------------------------------------------------------------------------


def _make_divisible(v: float, divisor: int = 8, min_value: Optional[int] = None) -> int:
    """Round ``v`` to the nearest multiple of ``divisor`` without losing >10%."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class InvertedResidual(nn.Module):
    """MobileNetV2 block: optional 1x1 expand, 3x3 depthwise, 1x1 linear project."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride should be 1 or 2, got {stride}")
        self.stride = stride
        hidden = int(round(in_ch * expand_ratio))
        self.use_res_connect = stride == 1 and in_ch == out_ch
        layers: List[nn.Module] = []
        if expand_ratio != 1:
            layers.append(_conv_bn_act(in_ch, hidden, 1, activation=nn.ReLU6))
        layers += [
            _conv_bn_act(hidden, hidden, 3, stride=stride, groups=hidden, activation=nn.ReLU6),
            nn.Conv2d(hidden, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 with torchvision's layout (``features`` + ``classifier``)."""

    # expansion t, output channels c, repeats n, first stride s
    SETTINGS = (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    )

    def __init__(
        self, num_classes: int = 1000, width_mult: float = 1.0, round_nearest: int = 8,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        in_ch = _make_divisible(32 * width_mult, round_nearest)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult), round_nearest)
        features: List[nn.Module] = [_conv_bn_act(3, in_ch, 3, stride=2, activation=nn.ReLU6)]
        for t, c, n, s in self.SETTINGS:
            out_ch = _make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                features.append(InvertedResidual(in_ch, out_ch, s if i == 0 else 1, t))
                in_ch = out_ch
        features.append(_conv_bn_act(in_ch, self.last_channel, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(self.last_channel, num_classes)
        )
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        return self.classifier(x)


def mobilenet_v2(num_classes: int = 1000) -> MobileNetV2:
    """Build MobileNetV2, width 1.0 (torchvision layout, 3,504,872 params)."""
    return MobileNetV2(num_classes=num_classes)


class MobileNetV1(nn.Module):
    """MobileNet v1 1.0 (Howard et al. 2017): a 3x3 stem, 13 depthwise-separable blocks, pooling, one FC.

    ``features.0`` is the stem; ``features.i`` (i = 1..13) holds ``0`` (3x3 depthwise + BN + ReLU) and ``1``
    (1x1 pointwise + BN + ReLU).  4,231,976 parameters, 569 M multiply-accumulates at 224x224.
    """

    # (output channels, stride) of the 13 depthwise-separable blocks
    BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
              (512, 1), (1024, 2), (1024, 1))

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        features: List[nn.Module] = [_conv_bn_act(3, 32, 3, stride=2)]
        in_ch = 32
        for out_ch, stride in self.BLOCKS:
            features.append(nn.Sequential(_conv_bn_act(in_ch, in_ch, 3, stride=stride, groups=in_ch),
                                          _conv_bn_act(in_ch, out_ch, 1)))
            in_ch = out_ch
        self.features = nn.Sequential(*features)
        self.classifier = nn.Linear(in_ch, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v1(num_classes: int = 1000) -> MobileNetV1:
    """Build MobileNet v1, width 1.0 (4,231,976 params)."""
    return MobileNetV1(num_classes=num_classes)


# ---------------------------------------------------------------------------
# RegNetX
# ---------------------------------------------------------------------------


class BottleneckTransform(nn.Sequential):
    """RegNet block body ``f``: 1x1 (a), 3x3 grouped strided (b), 1x1 no-act (c)."""

    def __init__(
        self, in_ch: int, out_ch: int, stride: int, group_width: int, bottleneck_mult: float
    ) -> None:
        w_b = int(round(out_ch * bottleneck_mult))
        groups = w_b // group_width
        super().__init__(
            OrderedDict(
                a=_conv_bn_act(in_ch, w_b, 1),
                b=_conv_bn_act(w_b, w_b, 3, stride=stride, groups=groups),
                c=_conv_bn_act(w_b, out_ch, 1, activation=None),
            )
        )


class ResBottleneckBlock(nn.Module):
    """Residual RegNet block: ``x + f(x)`` (projected if shape changes), then ReLU."""

    def __init__(
        self, in_ch: int, out_ch: int, stride: int, group_width: int, bottleneck_mult: float
    ) -> None:
        super().__init__()
        self.proj: Optional[nn.Module] = None
        if in_ch != out_ch or stride != 1:
            self.proj = _conv_bn_act(in_ch, out_ch, 1, stride=stride, activation=None)
        self.f = BottleneckTransform(in_ch, out_ch, stride, group_width, bottleneck_mult)
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.proj is None else self.proj(x)
        return self.activation(shortcut + self.f(x))


class AnyStage(nn.Sequential):
    """A RegNet stage: ``depth`` blocks named ``block{stage}-{i}``; first one strided."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        stride: int,
        depth: int,
        group_width: int,
        bottleneck_mult: float,
        stage_index: int,
    ) -> None:
        super().__init__()
        for i in range(depth):
            self.add_module(
                f"block{stage_index}-{i}",
                ResBottleneckBlock(
                    in_ch if i == 0 else out_ch,
                    out_ch,
                    stride if i == 0 else 1,
                    group_width,
                    bottleneck_mult,
                ),
            )


class RegNet(nn.Module):
    """RegNet (X variant, no squeeze-excitation) with torchvision's naming."""

    def __init__(
        self,
        depths: Sequence[int],
        widths: Sequence[int],
        group_width: int,
        bottleneck_mult: float = 1.0,
        stem_width: int = 32,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        self.stem = _conv_bn_act(3, stem_width, 3, stride=2)
        stages = OrderedDict()
        in_ch = stem_width
        for i, (depth, width) in enumerate(zip(depths, widths)):
            stages[f"block{i + 1}"] = AnyStage(
                in_ch, width, 2, depth, group_width, bottleneck_mult, i + 1
            )
            in_ch = width
        self.trunk_output = nn.Sequential(stages)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(in_ch, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.trunk_output(self.stem(x))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def regnet_x_600mf(num_classes: int = 1000) -> RegNet:
    """Build RegNetX-600MF as in pycls/BRECQ (torchvision-style naming; 6,196,040 params at 1000 classes).

    torchvision ships RegNetX-400MF and -800MF but not -600MF, so the count is checked against the
    widths (48, 96, 240, 528), depths (1, 3, 5, 7) and group width 24 of the RegNet paper's design space.
    """
    return RegNet(
        depths=(1, 3, 5, 7),
        widths=(48, 96, 240, 528),
        group_width=24,
        bottleneck_mult=1.0,
        num_classes=num_classes,
    )


# ---------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------

MODEL_BUILDERS: Dict[str, Callable[..., nn.Module]] = {
    "resnet18": resnet18,
    "resnet50": resnet50,
    "mobilenet_v2": mobilenet_v2,
    "regnet_x_600mf": regnet_x_600mf,
    "mobilenet_v1": mobilenet_v1,
}


def build_model(name: str, num_classes: int = 1000) -> nn.Module:
    """Build the named model; raise ``ValueError`` listing allowed names if unknown."""
    try:
        builder = MODEL_BUILDERS[name]
    except (KeyError, TypeError):
        builder = None
    if builder is None:
        allowed = ", ".join(sorted(MODEL_BUILDERS))
        raise ValueError(f"unknown model {name!r}; allowed: {allowed}")
    return builder(num_classes=num_classes)
