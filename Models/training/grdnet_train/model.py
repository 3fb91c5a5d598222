"""GRD-Net-Edge: residual encoder-decoder-encoder generator (fully convolutional bottleneck),
adversarial discriminator, U-Net discriminative network. No normalisation layers, so the
exported graph is plain Conv/ConvTranspose/LeakyRelu/Relu/Add/Concat/MaxPool/Sigmoid."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn


@dataclass
class ModelConfig:
    channels: int = 1
    gen_widths: list[int] = field(default_factory=lambda: [8, 16, 32, 64, 64])
    z_channels: int = 32
    unet_widths: list[int] = field(default_factory=lambda: [8, 16, 32, 64, 64])
    disc_widths: list[int] = field(default_factory=lambda: [16, 32, 64, 64])

    def to_dict(self) -> dict:
        return asdict(self)


def lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=False)


class ResBlock(nn.Module):
    """conv3x3 - LeakyReLU(0.2) - conv3x3, + identity (or 1x1 projection), LeakyReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.proj = nn.Conv2d(cin, cout, 1) if cin != cout else None
        self.a1, self.a2 = lrelu(), lrelu()

    def forward(self, x):
        s = x if self.proj is None else self.proj(x)
        return self.a2(self.c2(self.a1(self.c1(x))) + s)


class Encoder(nn.Module):
    """stem conv3x3 -> [conv3x3 s2 + ResBlock] per level -> conv3x3 to z (fully convolutional).
    widths[0] is the stem width; each further width is one /2 level."""

    def __init__(self, cin: int, widths: list[int], zc: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(cin, widths[0], 3, 1, 1), lrelu()]
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(a, b, 3, 2, 1), lrelu(), ResBlock(b, b)]
        layers += [nn.Conv2d(widths[-1], zc, 3, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class Decoder(nn.Module):
    """conv3x3 from z -> [ResBlock + ConvTranspose k4 s2 p1] per level -> ResBlock -> conv3x3."""

    def __init__(self, cout: int, widths: list[int], zc: int):
        super().__init__()
        w = widths[::-1]
        layers: list[nn.Module] = [nn.Conv2d(zc, w[0], 3, 1, 1), lrelu()]
        for a, b in zip(w[:-1], w[1:]):
            layers += [ResBlock(a, a), nn.ConvTranspose2d(a, b, 4, 2, 1), lrelu()]
        layers += [ResBlock(w[-1], w[-1]), nn.Conv2d(w[-1], cout, 3, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z)


class Generator(nn.Module):
    """Encoder -> decoder -> second encoder (GANomaly shape). Returns (X^, z, z^)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.enc = Encoder(cfg.channels, cfg.gen_widths, cfg.z_channels)
        self.dec = Decoder(cfg.channels, cfg.gen_widths, cfg.z_channels)
        self.enc2 = Encoder(cfg.channels, cfg.gen_widths, cfg.z_channels)

    def forward(self, x):
        z = self.enc(x)
        xr = self.dec(z)
        return xr, z, self.enc2(xr)


class Discriminator(nn.Module):
    """conv4x4 s2 stack; returns (probability per image, last feature map for feature matching)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        layers: list[nn.Module] = []
        c = cfg.channels
        for w in cfg.disc_widths:
            layers += [nn.Conv2d(c, w, 4, 2, 1), lrelu()]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(c, 1, 3, 1, 1)

    def forward(self, x):
        f = self.features(x)
        logit = self.head(f).mean(dim=(1, 2, 3))
        return logit, f


class DoubleConv(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), nn.ReLU(),
                                 nn.Conv2d(cout, cout, 3, 1, 1), nn.ReLU())

    def forward(self, x):
        return self.net(x)


class UNet(nn.Module):
    """U-Net on concat(X^, X): MaxPool 2x2 down, ConvTranspose k2 s2 up, skip Concat; 1-channel logit."""

    def __init__(self, cin: int, widths: list[int]):
        super().__init__()
        self.downs = nn.ModuleList()
        c = cin
        for w in widths:
            self.downs.append(DoubleConv(c, w))
            c = w
        self.pool = nn.MaxPool2d(2, 2)
        self.ups = nn.ModuleList()
        self.upconvs = nn.ModuleList()
        for skip in widths[-2::-1]:
            self.upconvs.append(nn.ConvTranspose2d(c, skip, 2, 2))
            self.ups.append(DoubleConv(2 * skip, skip))
            c = skip
        self.out = nn.Conv2d(c, 1, 1)

    def forward(self, x):
        skips = []
        for i, d in enumerate(self.downs):
            x = d(x)
            if i < len(self.downs) - 1:
                skips.append(x)
                x = self.pool(x)
        for up, conv, s in zip(self.upconvs, self.ups, reversed(skips)):
            x = conv(torch.cat([up(x), s], dim=1))
        return self.out(x)


class GRDNet(nn.Module):
    """Everything trained together; `inference()` is the part that ships."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.gen = Generator(cfg)
        self.unet = UNet(2 * cfg.channels, cfg.unet_widths)

    def forward(self, xn):
        xr, z, zr = self.gen(xn)
        logit = self.unet(torch.cat([xr, xn], dim=1))
        return xr, z, zr, logit

    def inference(self) -> "InferenceNet":
        return InferenceNet(self.gen.enc, self.gen.dec, self.unet)


class InferenceNet(nn.Module):
    """image -> reconstruction -> U-Net(concat(X^, X)) -> sigmoid anomaly map [N,1,H,W]."""

    def __init__(self, enc: Encoder, dec: Decoder, unet: UNet):
        super().__init__()
        self.enc, self.dec, self.unet = enc, dec, unet

    def forward(self, image):
        xr = self.dec(self.enc(image))
        return torch.sigmoid(self.unet(torch.cat([xr, image], dim=1)))


def count_macs(module: nn.Module, shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of Conv/ConvTranspose layers for one forward pass of `shape`."""
    total = 0

    def hook(m, inp, out):
        nonlocal total
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
            total += out.numel() // out.shape[0] * k
        elif isinstance(m, nn.ConvTranspose2d):
            x = inp[0]
            k = m.kernel_size[0] * m.kernel_size[1] * (m.out_channels // m.groups)
            total += x.numel() // x.shape[0] * k

    hs = [m.register_forward_hook(hook) for m in module.modules()
          if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        module(torch.zeros(*shape))
    for h in hs:
        h.remove()
    return total
