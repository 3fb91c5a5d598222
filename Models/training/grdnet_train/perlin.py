"""Perlin-noise defect masks as in DRAEM / GRD-Net (scales 2^0..2^5, rotation, threshold 0.5)."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image


def _fade(t: np.ndarray) -> np.ndarray:
    return 6 * t ** 5 - 15 * t ** 4 + 10 * t ** 3


def perlin_2d(shape: tuple[int, int], res: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Gradient noise of `shape` with `res` lattice cells per axis; values in about [-1, 1].

    The shape is padded up to a multiple of `res` and cropped, so any size works.
    """
    h, w = shape
    ry, rx = res
    dy, dx = math.ceil(h / ry), math.ceil(w / rx)
    H, W = dy * ry, dx * rx
    angles = 2 * math.pi * rng.random((ry + 1, rx + 1))
    grads = np.stack((np.cos(angles), np.sin(angles)), axis=-1)
    gy = (np.arange(H) % dy) / dy
    gx = (np.arange(W) % dx) / dx
    fy, fx = np.meshgrid(gy, gx, indexing="ij")

    def tile(g: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(g, dy, axis=0), dx, axis=1)

    def dot(g: np.ndarray, sy: float, sx: float) -> np.ndarray:
        g = tile(g)
        return (fy + sy) * g[..., 0] + (fx + sx) * g[..., 1]

    n00 = dot(grads[:-1, :-1], 0, 0)
    n10 = dot(grads[1:, :-1], -1, 0)
    n01 = dot(grads[:-1, 1:], 0, -1)
    n11 = dot(grads[1:, 1:], -1, -1)
    ty, tx = _fade(fy), _fade(fx)
    n0 = n00 + ty * (n10 - n00)
    n1 = n01 + ty * (n11 - n01)
    out = math.sqrt(2) * (n0 + tx * (n1 - n0))
    return out[:h, :w].astype(np.float32)


def perlin_mask(shape: tuple[int, int], rng: np.random.Generator, min_scale: int = 0,
                max_scale: int = 5, threshold: float = 0.5, min_area: int = 16,
                max_tries: int = 20) -> np.ndarray:
    """Binary float32 mask {0,1}: rotated Perlin noise thresholded at `threshold`.

    Per axis the lattice resolution is 2^k, k uniform in [min_scale, max_scale]. A mask smaller
    than `min_area` pixels is redrawn (up to `max_tries`; the last draw is returned regardless).
    """
    mask = np.zeros(shape, np.float32)
    for _ in range(max_tries):
        ry = 2 ** int(rng.integers(min_scale, max_scale + 1))
        rx = 2 ** int(rng.integers(min_scale, max_scale + 1))
        noise = perlin_2d(shape, (ry, rx), rng)
        angle = float(rng.uniform(-90, 90))
        noise = np.asarray(Image.fromarray(noise, mode="F").rotate(angle, resample=Image.BILINEAR),
                           dtype=np.float32)
        mask = (noise > threshold).astype(np.float32)
        if mask.sum() >= min_area:
            return mask
    return mask
