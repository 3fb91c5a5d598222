"""Data sets: a folder of good images or the MVTec AD layout, ROI masks, deterministic splits."""
from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from . import perlin, textures

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def list_images(folder: str) -> list[str]:
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"image folder {folder!r} does not exist")
    files = sorted(p for p in glob.glob(os.path.join(folder, "*")) if p.lower().endswith(IMAGE_EXTS))
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTS)}) in {folder!r}")
    return files


def good_folder(root: str) -> str:
    """`root` itself if it holds images, else the MVTec layout's root/train/good."""
    mv = os.path.join(root, "train", "good")
    return mv if os.path.isdir(mv) else root


def split_train_val(files: list[str], val_fraction: float) -> tuple[list[str], list[str]]:
    """Deterministic split by a hash of the file name (stable when files are added or removed)."""
    def h(p: str) -> float:
        return int(hashlib.sha1(os.path.basename(p).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    val = [p for p in files if h(p) < val_fraction]
    train = [p for p in files if h(p) >= val_fraction]
    return train, val


FITS = ("squash", "letterbox")


def letterbox_box(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """(x0, y0, content width, content height) of a width x height frame fitted into size x size
    with its aspect ratio kept and centred. Integer arithmetic only, so the box's preprocessor
    (GRDImaging.FramePreprocessor) places the content on exactly the same pixels."""
    if width >= height:
        cw, ch = size, max(1, (height * size + width // 2) // width)
    else:
        cw, ch = max(1, (width * size + height // 2) // height), size
    return (size - cw) // 2, (size - ch) // 2, cw, ch


def _check_fit(fit: str) -> None:
    if fit not in FITS:
        raise ValueError(f"fit {fit!r} is not one of {', '.join(FITS)}")


def pad_pixels(mean: list[float]) -> list[int]:
    """The letterbox padding value per channel: the training images' mean grey, so the padding
    normalises to about 0 (it stays outside the ROI; 0 keeps it quiet for the network)."""
    return [int(round(min(max(m, 0.0), 1.0) * 255.0)) for m in mean]


def load_image(path: str, size: int, channels: int, fit: str = "squash",
               pad: list[int] | None = None) -> np.ndarray:
    """HxWxC uint8 at size x size. fit "squash": resized to size x size (aspect ratio not kept);
    "letterbox": aspect kept, centred on a `pad`-valued canvas (default 0). The box's
    preprocessor does the same for the model's fit."""
    _check_fit(fit)
    try:
        im = Image.open(path)
        im = im.convert("L" if channels == 1 else "RGB")
        if fit == "squash":
            im = im.resize((size, size), Image.BILINEAR)
        else:
            x0, y0, cw, ch = letterbox_box(im.width, im.height, size)
            canvas = Image.new(im.mode, (size, size), tuple(pad or [0] * channels) if channels == 3
                               else int((pad or [0])[0]))
            canvas.paste(im.resize((cw, ch), Image.BILINEAR), (x0, y0))
            im = canvas
    except OSError as e:
        raise OSError(f"cannot read image {path!r}: {e}") from e
    a = np.asarray(im, np.uint8)
    return a[..., None] if a.ndim == 2 else a


def content_mask(path: str, size: int, fit: str = "squash") -> np.ndarray:
    """HxW float32: 1 where the frame's pixels land after `fit`, 0 on letterbox padding."""
    _check_fit(fit)
    out = np.ones((size, size), np.float32)
    if fit == "letterbox":
        with Image.open(path) as im:
            x0, y0, cw, ch = letterbox_box(im.width, im.height, size)
        out[:] = 0
        out[y0:y0 + ch, x0:x0 + cw] = 1
    return out


def load_mask(path: str, size: int, fit: str = "squash", like: tuple[int, int] | None = None) -> np.ndarray:
    """HxW float32 {0,1} (nonzero = 1) at size x size, nearest-neighbour resampled. With fit
    "letterbox", placed as an image of size `like` (width, height; default the mask's own) is."""
    _check_fit(fit)
    im = Image.open(path).convert("L")
    if fit == "squash":
        return (np.asarray(im.resize((size, size), Image.NEAREST)) > 127).astype(np.float32)
    x0, y0, cw, ch = letterbox_box(*(like or im.size), size)
    out = np.zeros((size, size), np.float32)
    out[y0:y0 + ch, x0:x0 + cw] = np.asarray(im.resize((cw, ch), Image.NEAREST)) > 127
    return out


def content_rect(content: np.ndarray) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) bounding the nonzero pixels of an HxW content mask."""
    rows, cols = np.flatnonzero(content.any(axis=1)), np.flatnonzero(content.any(axis=0))
    if len(rows) == 0:
        raise ValueError("content mask is empty")
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


class ROISource:
    """Optional ROI: None (everything), one mask file per product, or a folder of per-image masks
    named like the image (same stem, any image extension; a missing per-image mask = everything).
    With fit "letterbox" a mask is placed as its image is, and the padding is outside the ROI."""

    def __init__(self, path: str | None, size: int, fit: str = "squash"):
        _check_fit(fit)
        self.path, self.size, self.fit = path, size, fit
        self.single_path = path if path and os.path.isfile(path) else None
        # squash places every mask alike; letterbox places each like its image
        self.single = load_mask(path, size) if self.single_path and fit == "squash" else None
        if path and self.single_path is None and not os.path.isdir(path):
            raise FileNotFoundError(f"ROI {path!r} is neither a mask file nor a folder of masks")

    def mask_path(self, image_path: str) -> str | None:
        if self.single_path or not self.path:
            return self.single_path
        stem = os.path.splitext(os.path.basename(image_path))[0]
        for ext in IMAGE_EXTS:
            p = os.path.join(self.path, stem + ext)
            if os.path.isfile(p):
                return p
        return None

    def for_image(self, image_path: str) -> np.ndarray:
        if self.single is not None:
            return self.single
        p = self.mask_path(image_path)
        if self.fit == "squash":
            return load_mask(p, self.size) if p else np.ones((self.size, self.size), np.float32)
        content = content_mask(image_path, self.size, self.fit)
        if p is None:
            return content
        with Image.open(image_path) as im:
            like = im.size
        return load_mask(p, self.size, self.fit, like) * content


def channel_stats(images: np.ndarray, content: np.ndarray | None = None) -> tuple[list[float], list[float]]:
    """Per-channel mean/std of NxHxWxC uint8 images, in [0,1] units; with content (NxHxW), over
    the content pixels only (letterbox padding left out)."""
    x = images.astype(np.float32) / 255.0
    if content is None:
        return x.mean(axis=(0, 1, 2)).tolist(), np.maximum(x.std(axis=(0, 1, 2)), 1e-3).tolist()
    sel = x[content > 0]
    return sel.mean(axis=0).tolist(), np.maximum(sel.std(axis=0), 1e-3).tolist()


def synthesize(synth, img: np.ndarray, roi: np.ndarray, rng: np.random.Generator,
               content: np.ndarray | None = None, force_defect: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """synth(img, roi) drawn on the content rectangle only (the part, not the letterbox padding):
    breaks then start at the part's edges and Perlin scales are relative to the part. Without
    content (squash), exactly synth(img, roi, rng, force_defect)."""
    draw = (lambda i, r: synth(i, r, rng, force_defect=True)) if force_defect else (lambda i, r: synth(i, r, rng))
    if content is None:
        return draw(img, roi)
    if not content.any():   # a crop that holds only padding: nothing to draw on
        return img, np.zeros(roi.shape, np.float32)
    y0, y1, x0, x1 = content_rect(content)
    xn_c, m_c = draw(np.ascontiguousarray(img[y0:y1, x0:x1]), np.ascontiguousarray(roi[y0:y1, x0:x1]))
    xn, m = img.copy(), np.zeros(roi.shape, np.float32)
    xn[y0:y1, x0:x1], m[y0:y1, x0:x1] = xn_c, m_c
    return xn.astype(np.float32), m


@dataclass
class SynthConfig:
    clean_prob: float = 0.25
    min_scale: int = 0
    max_scale: int = 5
    threshold: float = 0.5
    min_area: int = 16
    beta_min: float = 0.5
    beta_max: float = 1.0
    texture_prob: float = 0.5   # of defective samples: GIMP texture fill
    self_prob: float = 0.2      # self fill (shifted image); the rest: random pixels
    break_prob: float = 0.0     # of defective samples: a break (missing corner/edge piece)
    pit_prob: float = 0.0       # of defective samples: small dark pits/pores (blowhole-like)
    crack_prob: float = 0.0     # of defective samples: thin low-contrast cracks (random-walk lines)
    faint_prob: float = 0.0     # of Perlin defects: a faint blend, b ~ U(faint_beta_min, beta_min)
    faint_beta_min: float = 0.15
    small_break_prob: float = 0.0  # of breaks: a small chip (a few % of the frame) instead
    small_label_dilate: int = 0    # training target of pits/cracks: the mask dilated by this many px
                                   # (so the map answers with a blob the 21x21 box-max score can see)


def break_mask(h: int, w: int, rng: np.random.Generator, small: bool = False) -> np.ndarray:
    """A region cut off at a corner or along an edge of the frame by a jagged line (a chipped or
    broken-off piece of the part): HxW float32 {0,1}. small: a chip (corner legs 3-12% of the
    frame, edge depth 1.5-6%) instead of a piece (10-60%, 3-30%)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy, xx = (yy + 0.5) / h, (xx + 0.5) / w
    js = 0.3 if small else 1.0
    jag = js * (0.06 * perlin.perlin_2d((h, w), (8, 8), rng) + 0.03 * perlin.perlin_2d((h, w), (32, 32), rng))
    if rng.random() < 0.6:   # corner: x/a + y/b < 1
        a, b = rng.uniform(0.03, 0.12, 2) if small else rng.uniform(0.1, 0.6, 2)
        f = xx / a + yy / b - 1 + jag / min(a, b)
    else:                    # edge: y < d0 + (d1 - d0) x
        d0, d1 = rng.uniform(0.015, 0.06, 2) if small else rng.uniform(0.03, 0.3, 2)
        f = yy - (d0 + (d1 - d0) * xx) + jag
    m = (f < 0).astype(np.float32)
    k = int(rng.integers(4))
    m = np.rot90(m, k) if h == w else (m[::-1] if k % 2 else m)
    if rng.random() < 0.5:
        m = m[:, ::-1]
    return np.ascontiguousarray(m)


def pit_shading(h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Small round pores/holes (blowholes, Huang et al. 2020): one pit or a cluster of 2-6, each
    1-8 px across (at 256x256), slightly elliptical, with a soft radial profile.
    Returns (shade HxW in [0,1]: how much each pixel is darkened, mask HxW {0,1}: the label)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    n = 1 if rng.random() < 0.5 else int(rng.integers(2, 7))
    cy, cx = rng.uniform(0.05 * h, 0.95 * h), rng.uniform(0.05 * w, 0.95 * w)
    spread = rng.uniform(3, 15)
    shade = np.zeros((h, w), np.float32)
    mask = np.zeros((h, w), np.float32)
    for k in range(n):
        py = cy + (rng.normal(0, spread) if k else 0.0)
        px = cx + (rng.normal(0, spread) if k else 0.0)
        py, px = float(np.clip(py, 1, h - 2)), float(np.clip(px, 1, w - 2))
        r = rng.uniform(0.5, 4.0)
        ry, rx = r * rng.uniform(0.75, 1.33), r * rng.uniform(0.75, 1.33)
        d = np.sqrt(((yy + 0.5 - py) / ry) ** 2 + ((xx + 0.5 - px) / rx) ** 2)
        prof = np.clip(1.3 - d, 0, 1) ** rng.uniform(0.7, 1.5)     # soft rim, flat-ish core
        shade = np.maximum(shade, prof)
        m = d <= 1.0
        m[int(py), int(px)] = True                                  # at least the centre pixel
        mask = np.maximum(mask, m.astype(np.float32))
    return shade, mask


def crack_shading(h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Thin cracks (Huang et al. 2020: thin dark lines): a random-walk polyline 15-90 px long
    (at 256x256) with a drifting direction, 1-2 px wide, sometimes with a branch; drawn
    anti-aliased at 4x and reduced. Returns (shade HxW in [0,1], mask HxW {0,1})."""
    from PIL import ImageDraw
    S = 4
    canvas = Image.new("L", (w * S, h * S), 0)
    draw = ImageDraw.Draw(canvas)
    width = rng.uniform(1.0, 2.0)

    def walk(y, x, ang, length):
        pts = [(x * S, y * S)]
        step = 2.0
        for _ in range(max(2, int(length / step))):
            ang += rng.normal(0, 0.35)
            y, x = y + step * np.sin(ang), x + step * np.cos(ang)
            pts.append((x * S, y * S))
        draw.line(pts, fill=255, width=max(1, int(round(width * S))), joint="curve")
        return pts

    y0, x0 = rng.uniform(0.1 * h, 0.9 * h), rng.uniform(0.1 * w, 0.9 * w)
    ang = rng.uniform(0, 2 * np.pi)
    length = rng.uniform(15, 90)
    pts = walk(y0, x0, ang, length)
    if rng.random() < 0.4:   # one branch from a point of the main line
        bx, by = pts[int(rng.integers(len(pts)))]
        walk(by / S, bx / S, ang + rng.choice([-1, 1]) * rng.uniform(0.4, 1.2), length * rng.uniform(0.3, 0.7))
    shade = np.asarray(canvas.resize((w, h), Image.BOX), np.float32) / 255.0
    mask = (shade > 0.25).astype(np.float32)
    if mask.sum() == 0:
        mask = (shade >= shade.max() * 0.5).astype(np.float32) if shade.max() > 0 else mask
    return shade, mask


def dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Binary dilation with a (2r+1)^2 square (r = 0: unchanged)."""
    if r <= 0:
        return mask
    from PIL import ImageFilter
    im = Image.fromarray((mask > 0).astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(2 * r + 1))
    return (np.asarray(im) > 127).astype(np.float32)


def darken(img: np.ndarray, shade: np.ndarray, rng: np.random.Generator, depth_lo: float,
           depth_hi: float) -> np.ndarray:
    """img * (1 - depth * shade): a dark pore/line; 20% of them bright instead (a reflecting
    rim/edge): img + depth * shade * (1 - img)."""
    depth = float(rng.uniform(depth_lo, depth_hi))
    s = shade[..., None]
    if rng.random() < 0.2:
        return img + depth * s * (1 - img)
    return img * (1 - depth * s)


class DefectSynthesizer:
    """Xn = (1-M)X + (1-b)MX + bM*Fill with a Perlin mask M, b ~ U(beta_min, beta_max)."""

    def __init__(self, cfg: SynthConfig, texture_list: list[np.ndarray] | None):
        self.cfg = cfg
        self.textures = texture_list or []

    def __call__(self, img: np.ndarray, roi: np.ndarray, rng: np.random.Generator,
                 force_defect: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """img HxWxC float [0,1] -> (Xn HxWxC, mask HxW (already cut to the ROI))."""
        c = self.cfg
        h, w, ch = img.shape
        if not force_defect and rng.random() < c.clean_prob:
            return img, np.zeros((h, w), np.float32)
        kind_r = rng.random() if (c.break_prob > 0 or c.pit_prob > 0 or c.crack_prob > 0) else 1.0
        if kind_r < c.pit_prob + c.break_prob and kind_r >= c.break_prob:
            shade, m = pit_shading(h, w, rng)
            return darken(img, shade, rng, 0.3, 0.85).astype(np.float32), dilate(m, c.small_label_dilate) * roi
        if kind_r < c.pit_prob + c.break_prob + c.crack_prob and kind_r >= c.break_prob + c.pit_prob:
            shade, m = crack_shading(h, w, rng)
            return darken(img, shade, rng, 0.2, 0.6).astype(np.float32), dilate(m, c.small_label_dilate) * roi
        if kind_r < c.break_prob:
            small = c.small_break_prob > 0 and rng.random() < c.small_break_prob
            m = break_mask(h, w, rng, small)
            if rng.random() < 0.5:   # what shows where the piece is missing: a dark background
                fill = np.clip(rng.uniform(0.0, 0.25) + rng.normal(0, 0.02, (h, w, ch)), 0, 1)
            else:
                fill = textures.random_pixel_fill(h, w, ch, rng) * rng.uniform(0.2, 1.0)
            b = float(rng.uniform(0.85, 1.0))
            M = m[..., None]
            xn = (1 - M) * img + (1 - b) * M * img + b * M * fill
            return xn.astype(np.float32), m * roi
        m = perlin.perlin_mask((h, w), rng, c.min_scale, c.max_scale, c.threshold, c.min_area)
        r = rng.random()
        if self.textures and r < c.texture_prob:
            fill = textures.texture_fill(self.textures, h, w, ch, rng)
        elif r < c.texture_prob + c.self_prob:
            fill = textures.self_fill(img, rng)
        else:
            fill = textures.random_pixel_fill(h, w, ch, rng)
        if c.faint_prob > 0 and rng.random() < c.faint_prob:
            b = float(rng.uniform(c.faint_beta_min, c.beta_min))
        else:
            b = float(rng.uniform(c.beta_min, c.beta_max))
        M = m[..., None]
        xn = (1 - M) * img + (1 - b) * M * img + b * M * fill
        return xn.astype(np.float32), m * roi


def photometric_jitter(img: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """A good part under other lighting: gamma exp(U(-p, p)), then gain 1 + U(-p, p), clipped to
    [0, 1]. Applied before the synthetic defect, so the defect sits on the jittered part."""
    gamma = float(np.exp(rng.uniform(-p, p)))
    gain = 1.0 + float(rng.uniform(-p, p))
    return np.clip(np.power(img, gamma) * gain, 0.0, 1.0).astype(np.float32)   # img is pixel/255


class TrainSampler:
    """Random crops (with flips) of the preloaded, resized good images plus synthetic defects."""

    def __init__(self, images: np.ndarray, rois: np.ndarray, crop: int, synth: DefectSynthesizer,
                 mean: list[float], std: list[float], seed: int, hflip: bool = True,
                 vflip: bool = False, photometric: float = 0.0, contents: np.ndarray | None = None):
        self.images, self.rois, self.crop, self.synth = images, rois, crop, synth
        self.contents = contents   # letterbox: where each part lies (defects are drawn on it only)
        self.photometric = photometric
        self.mean = np.array(mean, np.float32)
        self.std = np.array(std, np.float32)
        self.rng = np.random.default_rng(seed)
        self.hflip, self.vflip = hflip, vflip

    def sample(self, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Returns X (clean), Xn (with defect), mask, roi: NCHW / N1HW float32, X/Xn normalised."""
        n, H, W, C = self.images.shape
        cs = self.crop
        xs, xns, ms, rs = [], [], [], []
        for _ in range(batch):
            i = int(self.rng.integers(n))
            y0 = int(self.rng.integers(H - cs + 1))
            x0 = int(self.rng.integers(W - cs + 1))
            img = self.images[i, y0:y0 + cs, x0:x0 + cs].astype(np.float32) / 255.0
            roi = self.rois[i, y0:y0 + cs, x0:x0 + cs]
            content = None if self.contents is None else self.contents[i, y0:y0 + cs, x0:x0 + cs]
            if self.hflip and self.rng.random() < 0.5:
                img, roi = img[:, ::-1], roi[:, ::-1]
                content = None if content is None else content[:, ::-1]
            if self.vflip and self.rng.random() < 0.5:
                img, roi = img[::-1], roi[::-1]
                content = None if content is None else content[::-1]
            img, roi = np.ascontiguousarray(img), np.ascontiguousarray(roi)
            if self.photometric > 0:   # drawn only when on, so runs without it keep their random stream
                img = photometric_jitter(img, self.photometric, self.rng)
            xn, m = synthesize(self.synth, img, roi, self.rng, content)
            xs.append(img)
            xns.append(xn)
            ms.append(m)
            rs.append(roi)
        norm = lambda a: ((np.stack(a) - self.mean) / self.std).transpose(0, 3, 1, 2)
        return (np.ascontiguousarray(norm(xs), np.float32), np.ascontiguousarray(norm(xns), np.float32),
                np.stack(ms)[:, None].astype(np.float32), np.stack(rs)[:, None].astype(np.float32))


def normalise(images_u8: np.ndarray, mean: list[float], std: list[float]) -> np.ndarray:
    """NxHxWxC uint8 -> NCHW float32, (pixel/255 - mean)/std (the exported model's input)."""
    x = images_u8.astype(np.float32) / 255.0
    x = (x - np.array(mean, np.float32)) / np.array(std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def mvtec_test_set(root: str) -> list[tuple[str, str, str | None]]:
    """(image path, defect class, ground-truth mask path or None) for root/test/*/*."""
    test = os.path.join(root, "test")
    if not os.path.isdir(test):
        raise FileNotFoundError(f"{root!r} has no test/ folder (MVTec layout: test/<class>/*.png)")
    out = []
    for cls in sorted(os.listdir(test)):
        if not os.path.isdir(os.path.join(test, cls)):
            continue
        for p in list_images(os.path.join(test, cls)):
            gt = None
            if cls != "good":
                stem = os.path.splitext(os.path.basename(p))[0]
                cands = glob.glob(os.path.join(root, "ground_truth", cls, stem + "_mask.*")) + \
                    glob.glob(os.path.join(root, "ground_truth", cls, stem + ".*"))
                if not cands:
                    raise FileNotFoundError(f"no ground-truth mask for {p!r} under {root}/ground_truth/{cls}")
                gt = sorted(cands)[0]
            out.append((p, cls, gt))
    return out
