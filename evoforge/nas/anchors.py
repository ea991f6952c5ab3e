"""Small anchor architectures whose normalization-activation layers can be swapped (Liu et al. 2020, section 4.3:
a layer is judged on several architectures at once, because one found for a single architecture rarely
generalises).

Each model takes a ``norm_act(channels) -> nn.Module`` factory and uses it wherever the usual design has
BatchNorm followed by ReLU: a pre-activation ResNet, a MobileNetV2-style network of inverted residual blocks
(depthwise convolutions; the linear projections keep no normalization) and a plain stack of convolutions are
the search's anchors; a wider and deeper pre-activation ResNet and a VGG-style network are held out
(:data:`HELD_OUT`), for re-ranking a search's layers on architectures it never saw (the paper re-ranks its
top 10 on held-out settings).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

NormAct = Callable[[int], nn.Module]


class PreActBlock(nn.Module):
    """Pre-activation residual block (He et al. 2016): norm-act, 3x3 conv, norm-act, 3x3 conv, plus a
    (1x1 strided) shortcut.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, norm_act: NormAct) -> None:
        super().__init__()
        self.norm1, self.conv1 = norm_act(c_in), nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.norm2, self.conv2 = norm_act(c_out), nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = (nn.Conv2d(c_in, c_out, 1, stride, bias=False) if stride != 1 or c_in != c_out
                         else nn.Identity())

    def forward(self, x):
        out = self.norm1(x)
        shortcut = self.shortcut(out) if not isinstance(self.shortcut, nn.Identity) else x
        return self.conv2(self.norm2(self.conv1(out))) + shortcut


class InvertedResidual(nn.Module):
    """MobileNetV2's inverted residual (Sandler et al. 2018): 1x1 expansion, 3x3 depthwise, 1x1 projection,
    with a norm-act after the first two and a residual when shapes allow.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int, norm_act: NormAct) -> None:
        super().__init__()
        hidden = c_in * expand
        self.body = nn.Sequential(
            nn.Conv2d(c_in, hidden, 1, bias=False), norm_act(hidden),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), norm_act(hidden),
            nn.Conv2d(hidden, c_out, 1, bias=False))
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


def resnet(norm_act: NormAct, in_channels: int, classes: int, width: int = 16) -> nn.Module:
    """A small pre-activation ResNet around ``norm_act``: stem conv, three blocks (one strided), global pool, linear."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
        PreActBlock(width, width, 1, norm_act), PreActBlock(width, 2 * width, 2, norm_act),
        PreActBlock(2 * width, 2 * width, 1, norm_act), norm_act(2 * width),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, classes))


def mobilenet(norm_act: NormAct, in_channels: int, classes: int, width: int = 16) -> nn.Module:
    """A small MobileNetV2-style network around ``norm_act``: three inverted residuals, 1x1 conv, pool, linear."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), norm_act(width),
        InvertedResidual(width, width, 1, 4, norm_act), InvertedResidual(width, 2 * width, 2, 4, norm_act),
        InvertedResidual(2 * width, 2 * width, 1, 4, norm_act),
        nn.Conv2d(2 * width, 4 * width, 1, bias=False), norm_act(4 * width),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, classes))


def plain(norm_act: NormAct, in_channels: int, classes: int, width: int = 16) -> nn.Module:
    """A plain CNN around ``norm_act``: three 3x3 convolutions (one strided), global pool, linear."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), norm_act(width),
        nn.Conv2d(width, 2 * width, 3, 2, 1, bias=False), norm_act(2 * width),
        nn.Conv2d(2 * width, 2 * width, 3, 1, 1, bias=False), norm_act(2 * width),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, classes))


def resnet_wide(norm_act: NormAct, in_channels: int, classes: int, width: int = 16) -> nn.Module:
    """Held out: a pre-activation ResNet twice as wide and twice as deep as :func:`resnet` (three stages of
    two blocks each, the last two strided)."""
    w = 2 * width
    return nn.Sequential(
        nn.Conv2d(in_channels, w, 3, 1, 1, bias=False),
        PreActBlock(w, w, 1, norm_act), PreActBlock(w, w, 1, norm_act),
        PreActBlock(w, 2 * w, 2, norm_act), PreActBlock(2 * w, 2 * w, 1, norm_act),
        PreActBlock(2 * w, 4 * w, 2, norm_act), PreActBlock(4 * w, 4 * w, 1, norm_act), norm_act(4 * w),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, classes))


def vgg(norm_act: NormAct, in_channels: int, classes: int, width: int = 16) -> nn.Module:
    """Held out: a VGG-style network (Simonyan & Zisserman 2015) -- three stages of two 3x3 conv + norm-act
    pairs, max-pooled between stages, no residuals -- then global pool and linear."""
    layers: list[nn.Module] = []
    channels = in_channels
    for stage, out in enumerate((width, 2 * width, 4 * width)):
        if stage:
            layers.append(nn.MaxPool2d(2))
        for _ in range(2):
            layers += [nn.Conv2d(channels, out, 3, 1, 1, bias=False), norm_act(out)]
            channels = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, classes))


ANCHORS: dict[str, Callable[..., nn.Module]] = {"resnet": resnet, "mobilenet": mobilenet, "plain": plain,
                                                "resnet_wide": resnet_wide, "vgg": vgg}
SEARCH_ANCHORS = ("resnet", "mobilenet", "plain")
HELD_OUT = ("resnet_wide", "vgg")


def norm_act_channels(anchor: str, width: int, in_channels: int = 3, classes: int = 10) -> list[int]:
    """The channel count of every normalization-activation layer of ``anchor`` at ``width`` (to check a group
    setting against every layer before anything trains)."""
    channels: list[int] = []

    def record(count: int) -> nn.Module:
        channels.append(count)
        return nn.Identity()

    ANCHORS[anchor](record, in_channels, classes, width)
    return channels
