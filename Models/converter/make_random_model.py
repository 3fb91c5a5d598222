#!/usr/bin/env python3
"""Writes a GRD-Net-Edge-shaped model with random weights (until training ships one), for the
benchmark: OUT.grdnet (converted, with golden vectors), OUT.onnx (fp32, the converter's input)
and OUT.pt (TorchScript, for the PyTorch peer in `grdnet bench`).

usage: make_random_model.py OUT_PREFIX [--size 256] [--channels 1] [--seed 0]"""
import argparse
import sys

import numpy as np
import torch

import convert
from edge_net import GRDNetEdge, count_macs, export


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("prefix")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.manual_seed(a.seed)
    net = GRDNetEdge(channels=a.channels).eval()
    macs = count_macs(net, a.size, a.size, a.channels)
    print(f"GRD-Net-Edge (random weights): {macs / 1e9:.3f} GMAC at {a.size}x{a.size}x{a.channels}, "
          f"{sum(p.numel() for p in net.parameters())} parameters")
    export(net, a.prefix + ".onnx", a.size, a.size, a.channels)
    torch.jit.trace(net, torch.zeros(1, a.channels, a.size, a.size)).save(a.prefix + ".pt")
    rng = np.random.default_rng(a.seed)
    # smooth random "good" images: low-frequency noise around mid grey
    cal = []
    for _ in range(4):
        low = rng.normal(128, 30, (a.size // 16, a.size // 16, a.channels))
        img = np.kron(low, np.ones((16, 16, 1))) + rng.normal(0, 8, (a.size, a.size, a.channels))
        cal.append(np.clip(img, 0, 255).astype(np.uint8))
    g, data = convert.convert(a.prefix + ".onnx", a.prefix + ".grdnet", np.stack(cal), [0.5], [0.25], threshold=0.5,
                              card={"name": "GRD-Net-Edge random weights", "purpose": "benchmark only, not trained"})
    print(f"wrote {a.prefix}.grdnet ({len(data)} bytes), {a.prefix}.onnx, {a.prefix}.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
