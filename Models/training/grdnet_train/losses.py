"""GRD-Net losses: adversarial feature matching, contextual L1 + (1-SSIM), latent L1, focal."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _gauss_window(size: int, sigma: float, channels: int, device, dtype) -> torch.Tensor:
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    w = g[:, None] * g[None, :]
    return w.expand(channels, 1, size, size).contiguous()


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5,
         data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM of two NCHW images (Gaussian window 11 / 1.5, valid region)."""
    c = a.shape[1]
    w = _gauss_window(window, sigma, c, a.device, a.dtype)
    mu_a = F.conv2d(a, w, groups=c)
    mu_b = F.conv2d(b, w, groups=c)
    saa = F.conv2d(a * a, w, groups=c) - mu_a ** 2
    sbb = F.conv2d(b * b, w, groups=c) - mu_b ** 2
    sab = F.conv2d(a * b, w, groups=c) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (saa + sbb + c2))
    return s.mean()


def contextual_loss(x: torch.Tensor, xr: torch.Tensor, std: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """L1(X, X^) + (1 - SSIM(X, X^)), both on the de-normalised [0,1] images."""
    a = x * std + mean
    b = xr * std + mean
    return (a - b).abs().mean() + (1 - ssim(a, b))


def focal_loss(logit: torch.Tensor, target: torch.Tensor, gamma: float = 2.0,
               alpha: float | None = None) -> torch.Tensor:
    """Sigmoid focal loss, mean over pixels. alpha weights the positives (None = 1 for both)."""
    bce = F.binary_cross_entropy_with_logits(logit, target, reduction="none")
    p = torch.sigmoid(logit)
    pt = p * target + (1 - p) * (1 - target)
    loss = (1 - pt) ** gamma * bce
    if alpha is not None:
        loss = loss * (alpha * target + (1 - alpha) * (1 - target))
    return loss.mean()


def bce_loss(logit: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Plain per-pixel BCE on the segmentation logit (pushes confident negatives further down)."""
    return F.binary_cross_entropy_with_logits(logit, target)


def feature_matching(f_real: torch.Tensor, f_fake: torch.Tensor) -> torch.Tensor:
    """GANomaly's adversarial loss: L2 between discriminator features of X and X^, divided by the
    mean square of the real features. Without normalisation layers the discriminator's features
    grow as it wins (the raw loss went 0.01 -> 5 in 80 iterations here); the ratio keeps weight 1
    meaningful for the whole run."""
    return F.mse_loss(f_fake, f_real) / (f_real.detach().pow(2).mean() + 1e-6)


def latent_loss(z: torch.Tensor, zr: torch.Tensor) -> torch.Tensor:
    return (z - zr).abs().mean()
