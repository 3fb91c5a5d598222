"""Fill sources for synthetic defects: GIMP .pat textures, random pixels, the image itself."""
from __future__ import annotations

import glob
import os
import struct

import numpy as np
from PIL import Image

GIMP_PATTERN_DIRS = ["/usr/share/gimp/2.0/patterns", "/usr/share/gimp/3.0/patterns"]


def read_pat(path: str) -> np.ndarray:
    """Parses a GIMP pattern (.pat, big-endian header 'GPAT'); returns HxWxC uint8 (C = 1 or 3).

    Written by hand because no Python library reads the format; alpha is dropped.
    """
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise ValueError(f"{path}: too short for a GIMP pattern header")
    header_size, version, width, height, depth = struct.unpack(">5I", data[:20])
    if data[20:24] != b"GPAT":
        raise ValueError(f"{path}: not a GIMP pattern (magic {data[20:24]!r}, want b'GPAT')")
    if version != 1 or depth not in (1, 2, 3, 4) or width == 0 or height == 0:
        raise ValueError(f"{path}: unsupported pattern version {version} / depth {depth}")
    n = width * height * depth
    pixels = data[header_size:header_size + n]
    if len(pixels) != n:
        raise ValueError(f"{path}: truncated pixel data ({len(pixels)} of {n} bytes)")
    a = np.frombuffer(pixels, np.uint8).reshape(height, width, depth)
    if depth == 2:
        a = a[..., :1]
    elif depth == 4:
        a = a[..., :3]
    return a.copy()


def load_textures(dirs: list[str] | None = None, min_side: int = 64) -> list[np.ndarray]:
    """All readable .pat textures (at least `min_side` px each way) under `dirs`, sorted by path."""
    out = []
    for d in dirs or GIMP_PATTERN_DIRS:
        for p in sorted(glob.glob(os.path.join(d, "**", "*.pat"), recursive=True)):
            try:
                t = read_pat(p)
            except (OSError, ValueError):
                continue
            if min(t.shape[:2]) >= min_side:
                out.append(t)
    return out


def require_textures(dirs: list[str] | None = None) -> list[np.ndarray]:
    """`load_textures`, but finding none is an error: without them the synthetic defects of
    training and of the fixed validation sets would silently change to other fills."""
    tex = load_textures(dirs)
    if not tex:
        raise FileNotFoundError(
            f"no GIMP textures (.pat files, at least 64 px) under {' or '.join(dirs or GIMP_PATTERN_DIRS)}: "
            "install Debian's gimp-data (apt-get install gimp-data), or train with --no-textures "
            "(a different defect mix from every shipped recipe)")
    return tex


def to_channels(a: np.ndarray, channels: int) -> np.ndarray:
    """HxWxC uint8/float -> HxWxchannels (grey by luma average, or grey repeated)."""
    if a.shape[2] == channels:
        return a
    if channels == 1:
        return (a[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    return np.repeat(a[..., :1], channels, axis=2)


def texture_fill(textures: list[np.ndarray], h: int, w: int, channels: int,
                 rng: np.random.Generator) -> np.ndarray:
    """A random texture resampled to h x w (random scale 0.5-2x, tiled, random flip), in [0,1]."""
    t = textures[int(rng.integers(len(textures)))]
    scale = float(rng.uniform(0.5, 2.0))
    th, tw = max(8, int(t.shape[0] * scale)), max(8, int(t.shape[1] * scale))
    img = Image.fromarray(t if t.shape[2] == 3 else t[..., 0]).resize((tw, th), Image.BILINEAR)
    a = np.asarray(img, np.float32)
    if a.ndim == 2:
        a = a[..., None]
    reps = (h // th + 2, w // tw + 2, 1)
    a = np.tile(a, reps)
    y0, x0 = int(rng.integers(th)), int(rng.integers(tw))
    a = a[y0:y0 + h, x0:x0 + w]
    if rng.random() < 0.5:
        a = a[:, ::-1]
    a = to_channels(a, channels) / 255.0
    # random contrast / brightness so fills are not always brighter or darker than the part
    a = np.clip((a - a.mean()) * rng.uniform(0.5, 1.5) + rng.uniform(0.1, 0.9), 0, 1)
    return a.astype(np.float32)


def random_pixel_fill(h: int, w: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """Per-pixel uniform random values (the paper's 'random RGB pixels'), optionally smoothed."""
    a = rng.random((h, w, channels), dtype=np.float32)
    if rng.random() < 0.5:  # blotchy variant: upsampled coarse noise
        k = int(rng.choice([2, 4, 8]))
        small = rng.random((h // k + 1, w // k + 1, channels), dtype=np.float32)
        a = np.repeat(np.repeat(small, k, 0), k, 1)[:h, :w]
    return a


def self_fill(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The image itself, rolled by a random offset and flipped (HxWxC float in [0,1])."""
    h, w = image.shape[:2]
    a = np.roll(image, (int(rng.integers(h // 4, h)), int(rng.integers(w // 4, w))), axis=(0, 1))
    if rng.random() < 0.5:
        a = a[::-1]
    if rng.random() < 0.5:
        a = a[:, ::-1]
    gain = float(rng.uniform(0.6, 1.4))
    return np.clip(a * gain, 0, 1).astype(np.float32)
