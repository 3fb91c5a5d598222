"""A GRD-Net-Edge-shaped PyTorch network with random weights, for converter tests and the
benchmark until training ships a model. Shape (see ../../shared notes on the method): generator
encoder/decoder with residual blocks (conv3x3 - LeakyReLU(0.2) - conv3x3 + identity), then a
U-Net on concat(X^, X) ending in a 1-channel sigmoid (or 2-channel softmax) anomaly map.
Upsampling is nearest x2 + conv (or ConvTranspose k4 s2 p1 with transposed=True)."""
from __future__ import annotations

import torch
from torch import nn


def lrelu():
    return nn.LeakyReLU(0.2)


class Res(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a = nn.Conv2d(c, c, 3, 1, 1)
        self.b = nn.Conv2d(c, c, 3, 1, 1)
        self.act = lrelu()
        self.out = lrelu()

    def forward(self, x):
        return self.out(self.b(self.act(self.a(x))) + x)


class Up(nn.Module):
    def __init__(self, cin, cout, transposed):
        super().__init__()
        if transposed:
            self.m = nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1), lrelu())
        else:
            self.m = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1), lrelu())

    def forward(self, x):
        return self.m(x)


class GRDNetEdge(nn.Module):
    def __init__(self, channels=1, base=12, unet_base=12, transposed=False, softmax=False):
        super().__init__()
        b, u = base, unet_base
        self.softmax = softmax
        self.enc = nn.Sequential(
            nn.Conv2d(channels, b, 3, 1, 1), lrelu(),
            nn.Conv2d(b, 2 * b, 4, 2, 1), lrelu(), Res(2 * b),
            nn.Conv2d(2 * b, 4 * b, 4, 2, 1), lrelu(), Res(4 * b),
            nn.Conv2d(4 * b, 4 * b, 4, 2, 1), lrelu(),
            nn.Conv2d(4 * b, 2 * b, 1, 1, 0), lrelu())  # fully convolutional bottleneck
        self.dec = nn.Sequential(
            Up(2 * b, 4 * b, transposed), Res(4 * b),
            Up(4 * b, 2 * b, transposed), Res(2 * b),
            Up(2 * b, b, transposed),
            nn.Conv2d(b, channels, 3, 1, 1))
        self.d1 = nn.Sequential(nn.Conv2d(2 * channels, u, 3, 1, 1), nn.ReLU())
        self.d2 = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(u, 2 * u, 3, 1, 1), nn.ReLU())
        self.d3 = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(2 * u, 4 * u, 3, 1, 1), nn.ReLU())
        self.d4 = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(4 * u, 4 * u, 3, 1, 1), nn.ReLU())
        self.u3 = Up(4 * u, 4 * u, transposed)
        self.c3 = nn.Sequential(nn.Conv2d(8 * u, 2 * u, 3, 1, 1), nn.ReLU())
        self.u2 = Up(2 * u, 2 * u, transposed)
        self.c2 = nn.Sequential(nn.Conv2d(4 * u, u, 3, 1, 1), nn.ReLU())
        self.u1 = Up(u, u, transposed)
        self.c1 = nn.Sequential(nn.Conv2d(2 * u, u, 3, 1, 1), nn.ReLU())
        self.head = nn.Conv2d(u, 2 if softmax else 1, 1)

    def forward(self, x):
        rec = self.dec(self.enc(x))
        z = torch.cat([rec, x], 1)
        e1 = self.d1(z)
        e2 = self.d2(e1)
        e3 = self.d3(e2)
        e4 = self.d4(e3)
        y = self.c3(torch.cat([self.u3(e4), e3], 1))
        y = self.c2(torch.cat([self.u2(y), e2], 1))
        y = self.c1(torch.cat([self.u1(y), e1], 1))
        y = self.head(y)
        if self.softmax:
            return torch.softmax(y, 1)[:, 1:2]
        return torch.sigmoid(y)


def count_macs(model: nn.Module, h: int, w: int, channels: int) -> int:
    macs = 0

    def hook(m, inp, out):
        nonlocal macs
        if isinstance(m, nn.Conv2d):
            macs += out.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.ConvTranspose2d):
            macs += inp[0].numel() * m.out_channels * m.kernel_size[0] * m.kernel_size[1]
    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        model(torch.zeros(1, channels, h, w))
    for x in hs:
        x.remove()
    return macs


def export(model: nn.Module, path: str, h: int, w: int, channels: int):
    model.eval()
    torch.onnx.export(model, torch.zeros(1, channels, h, w), path, input_names=["image"], output_names=["anomaly"],
                      opset_version=17, dynamo=False)


if __name__ == "__main__":
    import sys
    m = GRDNetEdge()
    print(f"GRD-Net-Edge (random): {count_macs(m, 256, 256, 1) / 1e9:.3f} GMAC at 256x256, "
          f"{sum(p.numel() for p in m.parameters())} parameters")
    if len(sys.argv) > 1:
        export(m, sys.argv[1], 256, 256, 1)
