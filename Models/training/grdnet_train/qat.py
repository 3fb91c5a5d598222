"""Quantisation-aware fine-tuning: the inference graph (generator encoder + decoder, U-Net) is run
with the converter's int8 rounding simulated, so training learns weights whose int8 version
behaves like the float one.

Why: session 5's network (beta1 0.9) lost 7.4 image-AUROC points on validation in int8 against
its own fp32: its generator's activations have long tails, so per-tensor int8 steps drown the
small variations of X^ that its U-Net reads, and ranges calibrated on good images clip the
U-Net's responses to defects. A short fine-tune with the rounding in the loop, and the learned
ranges handed to the converter, cure both without an engine change: the weights stay fp32 in the
checkpoint and the converter quantises them exactly as simulated here.

What is simulated, matching Models/converter/convert.py:
- weights: per output channel, symmetric, round(w / s) in [-127, 127] with s = max|w| / 127;
- activations: per tensor, asymmetric int8 with s = (hi - lo) / 255 and zero point
  round(-128 - lo / s), at every tensor the converter quantises: each Conv/ConvTranspose output
  (after its fused LeakyReLU/ReLU if one follows), each residual Add (after its activation), and
  each Concat (the U-Net's input concat(X^, X) and its skip concats). MaxPool keeps its input's
  quantisation, so it needs no point of its own. The input image is already 8-bit and is left alone.
- ranges: an exponential moving average of each batch's min and max (observed in training mode
  only, on training batches with their synthetic defects); the first `observe_only` forward
  passes only observe, so the ranges settle before the rounding starts. The checkpoint keeps
  them, and `export --grdnet` passes them to the converter in place of its calibration
  (`ranges()` lists them in graph order, the converter's `ranged_ops` order).
- skip joins, optionally (`balance_gamma` > 0, session 14): as the converter rescales them
  (convert.balance_skip_concats, same gamma), the up-convolution's half is multiplied by alpha =
  (R_skip / R_up) ** gamma before the join's rounding and divided after it, the join's range is the
  union of the scaled up-range and the skip's range, and the next convolution's weights on those
  channels are rounded as w / alpha. Without it the fine-tune learns the unrescaled joins and the
  export rescales them afterwards (sessions 6-13).
Gradients pass straight through the rounding and stop outside the range (clipped STE).
The adversarial discriminator and the second encoder are training-only and stay float.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.utils import parametrize

from .model import DoubleConv, GRDNet, ResBlock, UNet

ACTIVATIONS = (nn.LeakyReLU, nn.ReLU)
CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def qparams(lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The converter's `_qparams`: range widened to include 0, 255 steps, zero point in [-128, 127]."""
    lo, hi = torch.clamp(lo, max=0.0), torch.clamp(hi, min=0.0)
    hi = torch.maximum(hi, lo + 1e-8)
    s = (hi - lo) / 255.0
    zp = torch.clamp(torch.round(-128.0 - lo / s), -128, 127)
    return s, zp


def fake_quant(x: torch.Tensor, s: torch.Tensor, zp: torch.Tensor) -> torch.Tensor:
    """Quantise-dequantise with a clipped straight-through gradient."""
    lo, hi = (-128.0 - zp) * s, (127.0 - zp) * s
    xc = torch.minimum(torch.maximum(x, lo), hi)
    q = (torch.round(xc / s) + zp).clamp(-128, 127)
    return xc + ((q - zp) * s - xc).detach()


class WeightFakeQuant(nn.Module):
    """Per-output-channel symmetric int8 weights (Conv2d: axis 0, ConvTranspose2d: axis 1)."""

    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis
        # Conv2d after a balanced skip join: per input channel divisor (1, Cin, 1, 1), set by the join
        self.in_divisor: torch.Tensor | None = None

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        d = self.in_divisor
        wd = w if d is None else w / d
        dims = [k for k in range(w.dim()) if k != self.axis]
        amax = wd.detach().abs().amax(dim=dims, keepdim=True)
        s = torch.where(amax > 0, amax / 127.0, torch.ones_like(amax))
        q = torch.clamp(torch.round(wd / s), -127, 127) * s
        return w + ((q if d is None else q * d) - w).detach()


class ActivationObserver:
    """One quantised tensor: EMA range while training, fake quantisation once enabled."""

    def __init__(self, name: str, momentum: float = 0.05):
        self.name, self.momentum = name, momentum
        self.lo: float | None = None
        self.hi: float | None = None
        self.enabled = False

    def observe(self, x: torch.Tensor) -> None:
        xf = x.detach().float()
        lo, hi = float(xf.min()), float(xf.max())
        if self.lo is None:
            self.lo, self.hi = lo, hi
        else:
            self.lo += self.momentum * (lo - self.lo)
            self.hi += self.momentum * (hi - self.hi)

    def __call__(self, x: torch.Tensor, training: bool) -> torch.Tensor:
        if training:
            self.observe(x)
        if not self.enabled or self.lo is None:
            return x
        s, zp = qparams(torch.tensor(self.lo), torch.tensor(self.hi))
        return fake_quant(x.float(), s, zp).to(x.dtype)


class BalancedJoin:
    """A U-Net skip join (concat[up, skip]) simulated as the converter rescales it; see the module
    doc. Its own observer still records the join's range (the checkpoint lists it; the converter
    replaces it by the union of the rescaled halves, as done here)."""

    def __init__(self, own: ActivationObserver, up: ActivationObserver, skip: ActivationObserver,
                 up_channels: int, next_weight: WeightFakeQuant, gamma: float):
        self.own, self.up, self.skip, self.next_weight, self.gamma = own, up, skip, next_weight, gamma
        self.up_channels = up_channels

    @staticmethod
    def _span(o: ActivationObserver) -> tuple[float, float]:
        return min(o.lo, 0.0), max(o.hi, 0.0)

    def alpha(self) -> float | None:
        """convert.balance_skip_concats' alpha from the current ranges; None while unobserved or
        when one half is constant (the converter leaves such a join alone)."""
        if self.up.lo is None or self.skip.lo is None:
            return None
        (ul, uh), (sl, sh) = self._span(self.up), self._span(self.skip)
        if min(uh - ul, sh - sl) < 1e-6:
            return None
        return ((sh - sl) / (uh - ul)) ** self.gamma

    def join_range(self, a: float) -> tuple[float, float]:
        """The converter's range for the rescaled join: the union of alpha x the up-range and the skip's."""
        (ul, uh), (sl, sh) = self._span(self.up), self._span(self.skip)
        return min(ul * a, sl), max(uh * a, sh)

    def __call__(self, x: torch.Tensor, training: bool) -> torch.Tensor:
        if training:
            self.own.observe(x)
        a = self.alpha()
        if a is None:
            self.next_weight.in_divisor = None
            return self.own(x, False)
        d = torch.ones(1, x.shape[1], 1, 1)
        d[:, :self.up_channels] = a
        self.next_weight.in_divisor = d
        if not self.own.enabled:
            return x
        s, zp = qparams(*(torch.tensor(v) for v in self.join_range(a)))
        return (fake_quant(x.float() * d, s, zp) / d).to(x.dtype)


def _quant_points(model: GRDNet) -> list[tuple[str, nn.Module, str]]:
    """(name, module, 'out' | 'in') for every tensor the converter quantises in the inference graph."""
    points: list[tuple[str, nn.Module, str]] = []

    def sequential(prefix: str, seq: nn.Sequential) -> None:
        mods = list(seq)
        for i, m in enumerate(mods):
            name = f"{prefix}.{i}"
            if isinstance(m, CONVS):
                nxt = mods[i + 1] if i + 1 < len(mods) else None
                if isinstance(nxt, ACTIVATIONS):
                    points.append((f"{prefix}.{i + 1}", nxt, "out"))
                else:
                    points.append((name, m, "out"))
            elif isinstance(m, ResBlock):
                points.append((f"{name}.a1", m.a1, "out"))
                points.append((f"{name}.c2", m.c2, "out"))
                if m.proj is not None:
                    points.append((f"{name}.proj", m.proj, "out"))
                points.append((f"{name}.a2", m.a2, "out"))
            elif isinstance(m, DoubleConv):
                sequential(name + ".net", m.net)

    sequential("gen.enc.net", model.gen.enc.net)
    sequential("gen.dec.net", model.gen.dec.net)
    unet: UNet = model.unet
    points.append(("unet.concat_input", unet, "in"))
    for i, d in enumerate(unet.downs):
        sequential(f"unet.downs.{i}.net", d.net)
    for i, (up, conv) in enumerate(zip(unet.upconvs, unet.ups)):
        points.append((f"unet.upconvs.{i}", up, "out"))
        points.append((f"unet.ups.{i}.concat", conv, "in"))
        sequential(f"unet.ups.{i}.net", conv.net)
    points.append(("unet.out", unet.out, "out"))
    return points


class QAT:
    """Attaches the simulation to a GRDNet; `detach()` restores the plain float model."""

    def __init__(self, model: GRDNet, observe_only: int = 20, momentum: float = 0.05, balance_gamma: float = 0.0):
        if not (0.0 <= balance_gamma <= 1.0):
            raise ValueError(f"QAT skip-join balance gamma must be in [0, 1] (0 = off), got {balance_gamma}")
        self.model, self.observe_only, self.steps, self.balance_gamma = model, observe_only, 0, balance_gamma
        self.weight_modules = [m for part in (model.gen.enc, model.gen.dec, model.unet)
                               for m in part.modules() if isinstance(m, CONVS)]
        weight_quant = {}
        for m in self.weight_modules:
            weight_quant[m] = WeightFakeQuant(1 if isinstance(m, nn.ConvTranspose2d) else 0)
            parametrize.register_parametrization(m, "weight", weight_quant[m], unsafe=True)
        points = _quant_points(model)
        self.observers: dict[str, ActivationObserver] = {name: ActivationObserver(name, momentum) for name, _, _ in points}
        unet: UNet = model.unet
        self.joins: dict[str, BalancedJoin] = {}
        if balance_gamma > 0:
            for i, (up, conv) in enumerate(zip(unet.upconvs, unet.ups)):
                skip_level = len(unet.downs) - 2 - i
                self.joins[f"unet.ups.{i}.concat"] = BalancedJoin(
                    self.observers[f"unet.ups.{i}.concat"], self.observers[f"unet.upconvs.{i}"],
                    self.observers[f"unet.downs.{skip_level}.net.3"], up.out_channels,
                    weight_quant[conv.net[0]], balance_gamma)
        self.handles = []
        for name, mod, where in points:
            obs = self.joins.get(name, self.observers[name])
            if where == "out":
                self.handles.append(mod.register_forward_hook(lambda m, i, o, obs=obs: obs(o, m.training)))
            else:
                self.handles.append(mod.register_forward_pre_hook(lambda m, i, obs=obs: (obs(i[0], m.training),) + tuple(i[1:])))

    def step(self) -> None:
        """Call once per training forward pass: turns the rounding on after `observe_only` steps."""
        self.steps += 1
        if self.steps >= self.observe_only:
            for o in self.observers.values():
                o.enabled = True

    def ranges(self) -> dict:
        return {n: (o.lo, o.hi) for n, o in self.observers.items()}

    def record(self) -> dict:
        """What the export must repeat: the skip-join gamma, only when one was simulated (a fine-tune
        without it leaves the converter's default, as sessions 6-13 shipped)."""
        return {"balance_gamma": self.balance_gamma} if self.balance_gamma > 0 else {}

    def load_ranges(self, ranges: dict, steps: int) -> None:
        for n, (lo, hi) in ranges.items():
            self.observers[n].lo, self.observers[n].hi = lo, hi
        self.steps = steps - 1
        self.step()

    def detach(self) -> None:
        for h in self.handles:
            h.remove()
        for m in self.weight_modules:
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)


def plain_state_dict(model: nn.Module) -> dict:
    """The state dict under the float model's own keys (parametrised weights keep their originals)."""
    return {k.replace("parametrizations.weight.original", "weight"): v for k, v in model.state_dict().items()}
