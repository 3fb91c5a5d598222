"""Training loop: one optimiser for generator + U-Net, one for the adversarial discriminator."""
from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from . import data, losses, metrics, textures
from .model import Discriminator, GRDNet, ModelConfig
from .qat import QAT, plain_state_dict


@dataclass
class TrainConfig:
    data: str = ""
    out: str = "runs/default"
    channels: int = 1
    size: int = 256          # images are resized to size x size (inference size)
    crop: int = 128          # training crops of the resized image
    batch: int = 8
    iters: int = 3000
    lr: float = 5e-4
    lr_d: float = 1e-4
    betas: tuple = (0.5, 0.999)
    betas_g: tuple | None = None  # generator + U-Net betas (None = betas)
    weight_decay: float = 1e-4
    warmup: int = 100
    w_adv: float = 1.0
    w_con: float = 50.0
    w_enc: float = 1.0
    w_focal: float = 1.0
    focal_gamma: float = 2.0
    focal_alpha: float | None = None
    w_bce: float = 0.0        # extra plain BCE on the segmentation logit (0 = focal only)
    select: str = "hard"      # checkpoint selection: "hard" (pits/cracks/faint/chips) or "old" validation set,
                              # "hard-z": the hard set scored as the engine does (good-part statistics, below)
    stats_images: int = 128   # hard-z: train-split good images for the per-pixel statistics
    keep_val_checkpoints: bool = False  # also keep OUT/it{N}.pt at every validation
    init: str = ""            # start from this checkpoint's weights and optimiser moments (new schedule)
    qat: bool = False         # quantisation-aware fine-tuning (qat.py): simulate the converter's int8 rounding
    qat_observe: int = 20     # QAT: forward passes that only observe activation ranges before rounding starts
    qat_balance_gamma: float = 0.0  # QAT: simulate the converter's skip-join rescale (qat.py); 0 = off
    val_fraction: float = 0.1
    val_every: int = 500
    val_start: int = 0        # no validation before this iteration (then every val_every); the run is the same,
                              # only fewer checkpoints are candidates: each validation costs ~0.5 min on 2 cores
    old_val: bool = True      # also score the old validation set (only printed unless select == "old")
    ckpt_every: int = 250
    seed: int = 0
    roi: str | None = None
    fit: str = "squash"       # frame -> size x size: "squash" (aspect not kept) or "letterbox" (kept, padded)
    vflip: bool = False       # also flip the good images upside down (session 19's experiment)
    photometric: float = 0.0  # gamma/gain jitter of the good images (data.photometric_jitter); 0 = off
    textures: bool = True
    precision: str = "auto"  # auto | bf16 | fp32
    channels_last: bool = False  # NHWC tensors in fp32 too (bf16 always uses them): ~15% faster here, other rounding
    threads: int = 0
    stop_after: int = 0       # stop at this iteration (0 = iters); the LR schedule still spans iters
    max_minutes: float = 0.0  # stop early (with a final validation + checkpoint) after this long
    model: dict = field(default_factory=lambda: ModelConfig().to_dict())
    synth: dict = field(default_factory=lambda: asdict(data.SynthConfig()))


def bf16_supported() -> bool:
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Progress:
    """A progress bar with ETA and losses: redraws in place on a terminal, prints lines to a log."""

    def __init__(self, total: int, start: int = 0, every: int = 20):
        self.total, self.start, self.every = total, start, every
        self.t0 = time.time()
        self.tty = sys.stderr.isatty()

    def update(self, it: int, info: dict) -> None:
        done = it - self.start
        if not self.tty and it % self.every and it != self.total:
            return
        el = time.time() - self.t0
        rate = el / max(done, 1)
        eta = rate * (self.total - it)
        frac = it / self.total
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        s = " ".join(f"{k}={v:.4f}" for k, v in info.items())
        line = (f"[{bar}] {it}/{self.total} {el / 60:.1f}m elapsed, ETA {eta / 60:.1f}m "
                f"({rate:.2f}s/it) {s}")
        if self.tty:
            sys.stderr.write("\r" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def load_split(cfg: TrainConfig):
    files = data.list_images(data.good_folder(cfg.data))
    train, val = data.split_train_val(files, cfg.val_fraction)
    return train, val


def build_val_set(cfg: TrainConfig, val_files, roi_src, texture_list, mean, std):
    """Held-out good images, each once clean (label 0) and once with a fixed synthetic defect:
    every third one a break (missing corner/edge piece), the others a Perlin defect. The defects
    come from the default synthesis settings (not the run's), so runs with different synthesis
    settings are compared on the same validation images."""
    rng = np.random.default_rng(cfg.seed + 12345)
    perlin_synth = data.DefectSynthesizer(data.SynthConfig(), texture_list)
    break_synth = data.DefectSynthesizer(data.SynthConfig(break_prob=1.0), texture_list)
    imgs, masks = [], []
    for i, (a, roi, content) in enumerate(zip(*_load_val(cfg, val_files, roi_src, mean))):
        synth = break_synth if i % 3 == 2 else perlin_synth
        xn, m = data.synthesize(synth, a, roi, rng, content, force_defect=True)
        imgs += [a, xn]
        masks += [np.zeros_like(m), m]
    return _nchw(imgs, mean, std), np.stack(masks)


def _load_val(cfg: TrainConfig, val_files, roi_src, mean):
    """The validation images as HxWxC float [0,1] in the run's fit (letterbox padding: the mean
    grey), their ROIs and, for letterbox, their content masks (None for squash)."""
    pad = data.pad_pixels(mean)
    imgs = [data.load_image(p, cfg.size, cfg.channels, cfg.fit, pad).astype(np.float32) / 255.0 for p in val_files]
    rois = [roi_src.for_image(p) for p in val_files]
    contents = [None if cfg.fit == "squash" else data.content_mask(p, cfg.size, cfg.fit) for p in val_files]
    return imgs, rois, contents


def val_pair_rois(cfg: TrainConfig, val_files, roi_src) -> np.ndarray:
    """The ROI of each image of the (clean, defective)-interleaved validation sets, 2N x H x W:
    where the scores and pixel metrics look (everything for squash without an ROI)."""
    return np.repeat(np.stack([roi_src.for_image(p) for p in val_files]), 2, axis=0)


HARD_KINDS = ("pit", "crack", "faint", "chip")


def _hard_synths(texture_list) -> list:
    """One synthesizer per HARD_KINDS entry, in that order (fixed settings, not the run's)."""
    return [data.DefectSynthesizer(data.SynthConfig(pit_prob=1.0), texture_list),
            data.DefectSynthesizer(data.SynthConfig(crack_prob=1.0), texture_list),
            data.DefectSynthesizer(data.SynthConfig(faint_prob=1.0), texture_list),
            data.DefectSynthesizer(data.SynthConfig(break_prob=1.0, small_break_prob=1.0), texture_list)]


def _hard_defects(images, rois, contents, synths, rng, shift: int = 0):
    """One defect per image, kind (i + shift) mod 4, drawn in image order from rng."""
    out, masks, kinds = [], [], []
    for i, (a, roi, content) in enumerate(zip(images, rois, contents)):
        k = (i + shift) % len(synths)
        xn, m = data.synthesize(synths[k], a, roi, rng, content, force_defect=True)
        out.append(xn); masks.append(m); kinds.append(k)
    return out, masks, np.array(kinds)


def _nchw(images, mean, std) -> np.ndarray:
    x = (np.stack(images) - np.array(mean, np.float32)) / np.array(std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), np.float32)


def build_hard_val_set(cfg: TrainConfig, val_files, roi_src, texture_list, mean, std):
    """The harder validation set (session 4): the same held-out good images, each once clean and
    once with one synthetic defect modelled on the published defect classes of the magnetic-tile
    data (Huang et al. 2020), in turn: small dark pits/pores (blowholes), a thin low-contrast crack,
    a faint Perlin blend (b 0.15-0.5), a small chip at a corner/edge (break). Fixed seed, fixed
    settings (not the run's). Returns (x, masks, kind index per defective image)."""
    imgs, rois, contents = _load_val(cfg, val_files, roi_src, mean)
    xns, ms, kinds = _hard_defects(imgs, rois, contents, _hard_synths(texture_list), np.random.default_rng(cfg.seed + 4242))
    pairs = [v for a, xn in zip(imgs, xns) for v in (a, xn)]
    masks = [v for m in ms for v in (np.zeros_like(m), m)]
    return _nchw(pairs, mean, std), np.stack(masks), kinds


def build_wide_hard_val_set(cfg: TrainConfig, val_files, roi_src, texture_list, mean, std, repeats: int = 4):
    """The hard set's good images with `repeats` defects each (session 10), for the int8-against-fp32
    check only: on the 76 + 76 hard set one defect image moves image AUROC by 1.3 points, which is
    the size of the 0.5-point condition's failures. Repeat 0 is the hard set's own defect; repeat r
    draws from its own fixed seed with the kinds rotated by r, so each image gets each kind once when
    repeats == 4. Not used in training or checkpoint selection.
    Returns (good x, defective x, defective masks, kind index per defective image), NCHW normalised."""
    imgs, rois, contents = _load_val(cfg, val_files, roi_src, mean)
    synths = _hard_synths(texture_list)
    xns, ms, ks = [], [], []
    for r in range(repeats):
        # repeat 0 draws exactly as build_hard_val_set does
        rng = np.random.default_rng(cfg.seed + 4242 + 1000 * r)
        x, m, k = _hard_defects(imgs, rois, contents, synths, rng, shift=r)
        xns += x; ms += m; ks.append(k)
    return _nchw(imgs, mean, std), _nchw(xns, mean, std), np.stack(ms), np.concatenate(ks)


def hard_image_aurocs(scores: np.ndarray, kinds: np.ndarray) -> dict:
    """Image AUROC of the hard set's interleaved (clean, defective) scores, and per kind (kind vs
    all clean); no pixel metrics, so image-score rules can be compared cheaply."""
    labels = np.array([0, 1] * (len(scores) // 2))
    out = {"image_auroc": metrics.auroc(labels, scores)}
    clean = scores[0::2]
    for k, name in enumerate(HARD_KINDS):
        d = scores[1::2][kinds == k]
        if len(d):
            out[f"image_auroc_{name}"] = metrics.auroc(np.r_[np.zeros(len(clean)), np.ones(len(d))],
                                                       np.r_[clean, d])
    return out


def hard_metrics(maps: np.ndarray, vm: np.ndarray, kinds: np.ndarray, scores: np.ndarray | None = None,
                 roi: np.ndarray | None = None) -> dict:
    """Image/pixel AUROC and pixel AP of the hard set, plus image AUROC per kind (kind vs all clean);
    the pixel metrics and the default score look inside the ROI only (all of it when None)."""
    if scores is None:
        scores = metrics.box_filter_max(maps, roi=roi)
    image = hard_image_aurocs(scores, kinds)
    pixel_auroc, pixel_ap = metrics.auroc_and_average_precision(*pixels_in_roi(vm, maps, roi))
    return {"image_auroc": image.pop("image_auroc"), "pixel_auroc": pixel_auroc, "pixel_ap": pixel_ap, **image}


def pixels_in_roi(masks: np.ndarray, maps: np.ndarray, roi: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(defect labels, map values) of the pixels inside the ROI (all pixels when None)."""
    if roi is None:
        return masks.ravel() > 0, maps.ravel()
    sel = roi.ravel() > 0
    return masks.ravel()[sel] > 0, maps.ravel()[sel]


@torch.no_grad()
def predict_maps(net, x: np.ndarray, batch: int = 8, autocast: bool = False) -> np.ndarray:
    net.eval()
    out = []
    for i in range(0, len(x), batch):
        t = torch.from_numpy(x[i:i + batch])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            m = net(t)
        out.append(m.float()[:, 0].numpy())
    return np.concatenate(out)


STATS_BOX, STATS_FLOOR = 5, 0.01  # the engine's score-stats settings (magnetic-tile.sh)


def stats_subset(train_files, n: int) -> list:
    """A fixed, deterministic subset of the TRAIN split for good-part statistics: n names spread
    evenly over the sorted train file names (never validation images)."""
    names = sorted(train_files, key=os.path.basename)
    if n <= 0 or n >= len(names):
        return names
    return [names[(i * len(names)) // n] for i in range(n)]


def validate(model: GRDNet, vx, vm, autocast: bool, hard=None, stats_x=None, roi=None) -> dict:
    """The old validation set (val_*; skipped when vx is None) and, if given (hx, hm, kinds), the
    hard one (hard_*).
    With stats_x (normalised train-split good images), also the standardised image AUROC of both
    sets (val_z_image_auroc, hard_z_image_auroc and per kind): max over the image of
    (5x5 box mean - mean_good) / (std_good + 0.01), as the engine scores with score-stats.
    roi: the ROI of each (interleaved) validation image (val_pair_rois); None = everywhere."""
    out = {}
    if vx is not None:
        maps = predict_maps(model.inference(), vx, autocast=autocast)
        labels = np.array([0, 1] * (len(vx) // 2))
        scores = metrics.box_filter_max(maps, roi=roi)
        pixel_auroc, pixel_ap = metrics.auroc_and_average_precision(*pixels_in_roi(vm, maps, roi))
        out.update(val_image_auroc=metrics.auroc(labels, scores), val_pixel_auroc=pixel_auroc, val_pixel_ap=pixel_ap)
    if hard is not None:
        hx, hm, kinds = hard
        hmaps = predict_maps(model.inference(), hx, autocast=autocast)
        out.update({f"hard_{k}": v for k, v in hard_metrics(hmaps, hm, kinds, roi=roi).items()})
    if stats_x is not None:
        smaps = predict_maps(model.inference(), stats_x, autocast=autocast)
        mu, sd = metrics.good_statistics(smaps, STATS_BOX)
        if vx is not None:
            out["val_z_image_auroc"] = metrics.auroc(labels, metrics.standardised_scores(maps, mu, sd, STATS_BOX, STATS_FLOOR, roi))
        if hard is not None:
            zs = metrics.standardised_scores(hmaps, mu, sd, STATS_BOX, STATS_FLOOR, roi)
            out.update({f"hard_z_{k}": v for k, v in hard_metrics(hmaps, hm, kinds, zs, roi).items()
                        if k.startswith("image_auroc")})
    model.train()
    return out


def lr_at(cfg: TrainConfig, it: int) -> float:
    if it < cfg.warmup:
        return cfg.lr * (it + 1) / cfg.warmup
    p = (it - cfg.warmup) / max(1, cfg.iters - cfg.warmup)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


def train(cfg: TrainConfig, resume: bool = False) -> str:
    os.makedirs(cfg.out, exist_ok=True)
    last_path = os.path.join(cfg.out, "last.pt")
    if resume and os.path.exists(last_path):
        done_before = torch.load(last_path, weights_only=False, map_location="cpu")["iter"]
        if done_before >= (cfg.stop_after or cfg.iters):
            print(f"{last_path} is already at iteration {done_before}: nothing to do", flush=True)
            return os.path.join(cfg.out, "best.pt")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_all(cfg.seed)
    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and bf16_supported())
    nhwc = use_bf16 or cfg.channels_last
    print(f"precision: {'bf16 autocast + channels_last' if use_bf16 else 'fp32'}"
          f"{' + channels_last' if nhwc and not use_bf16 else ''}; "
          f"threads {torch.get_num_threads()}", flush=True)

    train_files, val_files = load_split(cfg)
    print(f"data: {len(train_files)} train, {len(val_files)} validation images from "
          f"{data.good_folder(cfg.data)}", flush=True)
    roi_src = data.ROISource(cfg.roi, cfg.size, cfg.fit)
    imgs = np.stack([data.load_image(p, cfg.size, cfg.channels, cfg.fit) for p in train_files])
    rois = np.stack([roi_src.for_image(p) for p in train_files])
    contents = None
    if cfg.fit != "squash":   # statistics of the parts only; then the padding becomes their mean grey
        contents = np.stack([data.content_mask(p, cfg.size, cfg.fit) for p in train_files])
        mean, std = data.channel_stats(imgs, contents)
        imgs[contents == 0] = np.array(data.pad_pixels(mean), np.uint8)
        print(f"fit: letterbox, padding {data.pad_pixels(mean)}; the parts cover "
              f"{100 * contents.mean():.1f} % of the frames", flush=True)
    else:
        mean, std = data.channel_stats(imgs)
    tex = textures.require_textures() if cfg.textures else []
    print(f"normalisation mean {mean} std {std}; {len(tex)} GIMP textures", flush=True)
    synth = data.DefectSynthesizer(data.SynthConfig(**cfg.synth), tex)
    sampler = data.TrainSampler(imgs, rois, cfg.crop, synth, mean, std, cfg.seed, vflip=cfg.vflip,
                                photometric=cfg.photometric, contents=contents)
    if cfg.select == "old" and not cfg.old_val:
        raise ValueError("--select old needs the old validation set (drop --no-old-val)")
    vx, vm = build_val_set(cfg, val_files, roi_src, tex, mean, std) if cfg.old_val else (None, None)
    hard = build_hard_val_set(cfg, val_files, roi_src, tex, mean, std)
    val_roi = None if cfg.fit == "squash" and not cfg.roi else val_pair_rois(cfg, val_files, roi_src)
    stats_x = None
    if cfg.select == "hard-z":
        sf = stats_subset(train_files, cfg.stats_images)
        stats_x = data.normalise(np.stack([data.load_image(p, cfg.size, cfg.channels, cfg.fit, data.pad_pixels(mean))
                                           for p in sf]), mean, std)
        print(f"selection: hard set, standardised box {STATS_BOX} score (statistics from {len(sf)} train-split "
              f"good images, first {os.path.basename(sf[0])}, last {os.path.basename(sf[-1])})", flush=True)

    mcfg = ModelConfig(**cfg.model)
    model = GRDNet(mcfg)
    disc = Discriminator(mcfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas_g or cfg.betas),
                            weight_decay=cfg.weight_decay)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=cfg.lr_d, betas=tuple(cfg.betas),
                              weight_decay=cfg.weight_decay)
    start, best, history = 0, -1.0, []
    if cfg.init:
        ck = torch.load(cfg.init, weights_only=False)
        model.load_state_dict(ck["model"])
        disc.load_state_dict(ck["disc"])
        opt.load_state_dict(ck["opt"])
        opt_d.load_state_dict(ck["opt_d"])
        if ck["mean"] != mean or ck["std"] != std:
            raise ValueError(f"--init {cfg.init}: its normalisation differs from this data's")
        for g in opt.param_groups:   # the run's betas, not the checkpoint's
            g["betas"] = tuple(cfg.betas_g or cfg.betas)
        print(f"initialised from {cfg.init} (iteration {ck['iter']} of its run); new schedule", flush=True)
    last_path = os.path.join(cfg.out, "last.pt")
    if resume and os.path.exists(last_path):
        ck = torch.load(last_path, weights_only=False)
        model.load_state_dict(ck["model"])
        disc.load_state_dict(ck["disc"])
        opt.load_state_dict(ck["opt"])
        opt_d.load_state_dict(ck["opt_d"])
        start, best, history = ck["iter"], ck["best"], ck["history"]
        sampler.rng = np.random.default_rng()
        sampler.rng.bit_generator.state = ck["sampler_rng"]
        torch.set_rng_state(ck["torch_rng"])
        print(f"resumed from {last_path} at iteration {start}", flush=True)
    qat = None
    if cfg.qat:
        # attached after the weights are loaded: checkpoints always hold the float model's keys
        qat = QAT(model, cfg.qat_observe, balance_gamma=cfg.qat_balance_gamma)
        if resume and os.path.exists(last_path) and "qat" in ck:
            qat.load_ranges(ck["qat"]["ranges"], ck["qat"]["steps"])
        print(f"quantisation-aware: int8 rounding simulated at {len(qat.observers)} tensors of the inference "
              f"graph after {cfg.qat_observe} observing steps (precision {'bf16' if use_bf16 else 'fp32'})"
              + (f"; skip joins rescaled as the converter does, gamma {cfg.qat_balance_gamma}"
                 if cfg.qat_balance_gamma > 0 else ""), flush=True)
    if nhwc:
        model = model.to(memory_format=torch.channels_last)
        disc = disc.to(memory_format=torch.channels_last)
    model.train()
    disc.train()
    tmean = torch.tensor(mean).view(1, -1, 1, 1)
    tstd = torch.tensor(std).view(1, -1, 1, 1)
    bce = torch.nn.BCEWithLogitsLoss()

    def save(path: str, it: int) -> None:
        extra = {"qat": {"ranges": qat.ranges(), "steps": qat.steps, **qat.record()}} if qat is not None else {}
        torch.save({"model": plain_state_dict(model) if qat is not None else model.state_dict(), "disc": disc.state_dict(), "opt": opt.state_dict(),
                    "opt_d": opt_d.state_dict(), "iter": it, "best": best, "history": history,
                    "sampler_rng": sampler.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                    "config": asdict(cfg), "mean": mean, "std": std,
                    "train_files": [os.path.basename(p) for p in train_files],
                    "val_files": [os.path.basename(p) for p in val_files], **extra}, path + ".tmp")
        os.replace(path + ".tmp", path)

    prog = Progress(cfg.iters, start)
    t_start = time.time()
    run_avg: dict = {}
    for it in range(start, cfg.iters):
        for g in opt.param_groups:
            g["lr"] = lr_at(cfg, it)
        x, xn, m, roi = (torch.from_numpy(a) for a in sampler.sample(cfg.batch))
        if nhwc:
            x, xn = x.contiguous(memory_format=torch.channels_last), xn.contiguous(memory_format=torch.channels_last)
        target = m * roi
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
            xr, z, zr, logit = model(xn)
            if qat is not None:
                qat.step()
            _, f_real = disc(x)
            _, f_fake = disc(xr)
        xr, z, zr, logit = xr.float(), z.float(), zr.float(), logit.float()
        l_adv = losses.feature_matching(f_real.float().detach(), f_fake.float())
        l_con = losses.contextual_loss(x, xr, tstd, tmean)
        l_enc = losses.latent_loss(z, zr)
        l_foc = losses.focal_loss(logit, target, cfg.focal_gamma, cfg.focal_alpha)
        loss = cfg.w_adv * l_adv + cfg.w_con * l_con + cfg.w_enc * l_enc + cfg.w_focal * l_foc
        if cfg.w_bce:
            l_bce = losses.bce_loss(logit, target)
            loss = loss + cfg.w_bce * l_bce
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        # discriminator: real X vs reconstructed X^
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
            lr_real, _ = disc(x)
            lr_fake, _ = disc(xr.detach())
        l_d = 0.5 * (bce(lr_real.float(), torch.ones_like(lr_real.float())) +
                     bce(lr_fake.float(), torch.zeros_like(lr_fake.float())))
        opt_d.zero_grad(set_to_none=True)
        l_d.backward()
        opt_d.step()
        info = {"adv": l_adv.item(), "con": l_con.item(), "enc": l_enc.item(),
                "focal": l_foc.item(), "d": l_d.item()}
        if cfg.w_bce:
            info["bce"] = l_bce.item()
        for k, v in info.items():
            run_avg[k] = v if k not in run_avg else 0.95 * run_avg[k] + 0.05 * v
        done = it + 1
        prog.update(done, run_avg)
        out_of_time = (cfg.max_minutes > 0 and (time.time() - t_start) / 60 > cfg.max_minutes) or \
            (cfg.stop_after > 0 and done >= cfg.stop_after)
        if (done % cfg.val_every == 0 and done >= cfg.val_start) or done == cfg.iters or out_of_time:
            v = validate(model, vx, vm, use_bf16, hard, stats_x, val_roi)
            v.update(iter=done, minutes=(time.time() - t_start) / 60)
            history.append(v)
            if cfg.select == "hard-z":
                score = v["hard_z_image_auroc"] + v["hard_pixel_auroc"]
            else:
                pre = "hard_" if cfg.select == "hard" else "val_"
                score = v[pre + "image_auroc"] + v[pre + "pixel_auroc"]
            tag = ""
            if cfg.keep_val_checkpoints:
                save(os.path.join(cfg.out, f"it{done}.pt"), done)
            if score > best:
                best = score
                save(os.path.join(cfg.out, "best.pt"), done)
                tag = " (best so far)"
            old = (f"image AUROC {100 * v['val_image_auroc']:.2f}, pixel AUROC {100 * v['val_pixel_auroc']:.2f}, "
                   f"pixel AP {100 * v['val_pixel_ap']:.2f}; " if vx is not None else "")
            print(f"validation @ {done}: {old}hard set: image "
                  f"{100 * v['hard_image_auroc']:.2f} (pit/crack/faint/chip " +
                  "/".join(f"{100 * v.get('hard_image_auroc_' + k, float('nan')):.1f}" for k in HARD_KINDS) +
                  f"), pixel {100 * v['hard_pixel_auroc']:.2f}, AP {100 * v['hard_pixel_ap']:.2f}{tag}",
                  flush=True)
            if stats_x is not None:
                old = f"old image {100 * v['val_z_image_auroc']:.2f}; " if vx is not None else ""
                print(f"  standardised (box {STATS_BOX} z): {old}hard image "
                      f"{100 * v['hard_z_image_auroc']:.2f} (pit/crack/faint/chip " +
                      "/".join(f"{100 * v.get('hard_z_image_auroc_' + k, float('nan')):.1f}" for k in HARD_KINDS) +
                      f"); selection score {100 * score:.2f}", flush=True)
        if done % cfg.ckpt_every == 0 or done == cfg.iters or out_of_time:
            save(last_path, done)
        if out_of_time:
            print(f"\nstopping at iteration {done} (--stop-after {cfg.stop_after}, --max-minutes "
                  f"{cfg.max_minutes})", flush=True)
            break
    wall = time.time() - t_start
    with open(os.path.join(cfg.out, "train_summary.json"), "w") as f:
        json.dump({"wall_seconds_this_session": wall, "iters": cfg.iters, "last_iter": done, "start_iter": start,
                   "history": history, "precision": "bf16" if use_bf16 else "fp32",
                   "config": asdict(cfg), "mean": mean, "std": std}, f, indent=1)
    print(f"\ntraining done: {done - start} iterations in {wall / 60:.1f} min", flush=True)
    return os.path.join(cfg.out, "best.pt")
