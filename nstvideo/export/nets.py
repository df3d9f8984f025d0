"""Feed-forward transform networks (Johnson et al. 2016) and the wrapper that makes them obey the model contract."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# The encoder downsamples twice by 2, so H and W must be multiples of this inside the net.
STRIDE = 4

ARCHS = {
    # name: (channels of the three encoder convs, residual blocks, global skip from input to output)
    "johnson": ((32, 64, 128), 5, False),
    "johnson-skip": ((32, 64, 128), 5, True),
    "lite": ((16, 32, 64), 3, False),
    "lite-skip": ((16, 32, 64), 3, True),
}


class ConvLayer(nn.Module):
    """Reflection-padded conv: zero padding makes visible borders in stylised output."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


class UpsampleConvLayer(nn.Module):
    """Nearest upsample then conv: transposed convs leave checkerboard artefacts."""

    def __init__(self, cin: int, cout: int, kernel: int) -> None:
        super().__init__()
        self.conv = ConvLayer(cin, cout, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, 3)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.in1(self.conv1(x)))
        return x + self.in2(self.conv2(y))


class TransformNet(nn.Module):
    """RGB float in [0, 255] (N, 3, H, W) with H, W multiples of STRIDE -> RGB float, roughly [0, 255]."""

    def __init__(self, arch: str = "johnson") -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
        self.arch = arch
        (c1, c2, c3), blocks, self.skip = ARCHS[arch]
        self.conv1 = ConvLayer(3, c1, 9)
        self.in1 = nn.InstanceNorm2d(c1, affine=True)
        self.conv2 = ConvLayer(c1, c2, 3, stride=2)
        self.in2 = nn.InstanceNorm2d(c2, affine=True)
        self.conv3 = ConvLayer(c2, c3, 3, stride=2)
        self.in3 = nn.InstanceNorm2d(c3, affine=True)
        self.res = nn.Sequential(*[ResidualBlock(c3) for _ in range(blocks)])
        self.up1 = UpsampleConvLayer(c3, c2, 3)
        self.in4 = nn.InstanceNorm2d(c2, affine=True)
        self.up2 = UpsampleConvLayer(c2, c1, 3)
        self.in5 = nn.InstanceNorm2d(c1, affine=True)
        self.conv_out = ConvLayer(c1, 3, 9)
        if self.skip:
            # "-skip" nets predict a change to the photo, starting from none: training begins where Gatys does
            # (at the photo), so content survives and far fewer steps reach the style (CPU-trainable).
            nn.init.zeros_(self.conv_out.conv.weight)
            nn.init.zeros_(self.conv_out.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.in1(self.conv1(x)))
        y = F.relu(self.in2(self.conv2(y)))
        y = F.relu(self.in3(self.conv3(y)))
        y = self.res(y)
        y = F.relu(self.in4(self.up1(y)))
        y = F.relu(self.in5(self.up2(y)))
        # Scale the output so unit steps are worth 127.5 grey levels; plain nets centre it at mid-grey so they
        # reach the right colour range in tens of steps instead of hundreds.
        return self.conv_out(y) * 127.5 + (x if self.skip else 127.5)


class ContractWrapper(nn.Module):
    """uint8 BGR NHWC in and out, any H, W >= 16: the conversions live in the graph so they run on the GPU."""

    def __init__(self, net: TransformNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        h, w = frames.shape[1], frames.shape[2]
        x = frames.flip(-1).permute(0, 3, 1, 2).float()  # BGR NHWC uint8 -> RGB NCHW float
        pad_h = (STRIDE - h % STRIDE) % STRIDE
        pad_w = (STRIDE - w % STRIDE) % STRIDE
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        y = self.net(x)[:, :, :h, :w]
        y = torch.round(torch.clamp(y, 0.0, 255.0)).to(torch.uint8)
        return y.permute(0, 2, 3, 1).flip(-1).contiguous()


def build_net(arch: str = "johnson") -> TransformNet:
    """A freshly initialised transform network."""
    return TransformNet(arch)
