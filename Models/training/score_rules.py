"""Validation-only analysis of image-score rules: loads a training checkpoint, rebuilds the fixed
validation set (held-out good images, clean and with one synthetic defect each) and prints the
image AUROC (all / Perlin / breaks) of several rules, then of the standardised rules (model
section 6, `grdnet model score-stats`: per-pixel mean/std of the box-filtered map over the TRAIN
split's good images). Test images are never read.
Usage (from Models/training): python score_rules.py RUN/best.pt"""
import os, sys, json, numpy as np, torch
torch.set_num_threads(1)
from grdnet_train import data, metrics, textures
from grdnet_train.evaluate import load_float_model, run_maps
from grdnet_train.train import TrainConfig, build_val_set
import torch.nn.functional as F
ckp = sys.argv[1]
net, meta = load_float_model(ckp)
ck = torch.load(ckp, weights_only=False, map_location="cpu")
cfg = TrainConfig(**ck["config"]); cfg.seed = 0  # the fixed validation set (seed 0), whatever the run's seed
folder = data.good_folder(cfg.data)
vf = [os.path.join(folder, f) for f in ck["val_files"]]
tex = textures.require_textures()
vx, vm = build_val_set(cfg, vf, data.ROISource(None, cfg.size, cfg.fit), tex, meta["mean"], meta["std"])
maps = run_maps(net, vx)
lab = np.array([0, 1] * (len(vx) // 2)); isbreak = np.array([(i // 2) % 3 == 2 for i in range(len(vx))])
def rep(name, s):
    a = metrics.auroc(lab, s)
    sel_p = (lab == 0) | ~isbreak; sel_b = (lab == 0) | isbreak
    print(f"{name:14s} img {100*a:6.2f}  perlin {100*metrics.auroc(lab[sel_p], s[sel_p]):6.2f}  break {100*metrics.auroc(lab[sel_b], s[sel_b]):6.2f}")
print(ckp, "iter", ck["iter"], "pixel AUROC %.2f AP %.2f" % (100*metrics.auroc(vm.ravel()>0, maps.ravel()), 100*metrics.average_precision(vm.ravel()>0, maps.ravel())), "mean good map %.3f" % maps[lab==0].mean())
t = torch.from_numpy(maps)[:, None]
for k in (1, 5, 11, 21, 31, 41, 61):
    rep(f"box{k}", F.avg_pool2d(t, k, 1, k//2, count_include_pad=True).amax(dim=(1,2,3)).numpy())
flat = maps.reshape(len(maps), -1)
for q in (100, 1000, 5000):
    rep(f"top{q}mean", np.sort(flat, 1)[:, -q:].mean(1))
rep("mean", flat.mean(1))

# Standardised rules: statistics from the train split (the images the validation set leaves out).
val_names = set(ck["val_files"])
trf = [p for p in data.list_images(folder) if os.path.basename(p) not in val_names]
trm = run_maps(net, data.normalise(np.stack([data.load_image(p, meta["input_size"], meta["channels"]) for p in trf]),
                                   meta["mean"], meta["std"]))
print(f"standardised: statistics from {len(trf)} train images")
for k in (1, 5, 11, 21):
    btr = F.avg_pool2d(torch.from_numpy(trm)[:, None], k, 1, k // 2, count_include_pad=True)[:, 0].numpy()
    bv = F.avg_pool2d(t, k, 1, k // 2, count_include_pad=True)[:, 0].numpy()
    mu, sd = btr.mean(0), btr.std(0)
    for floor in (0.01, 0.05):
        rep(f"box{k} z f{floor}", ((bv - mu) / (sd + floor)).max((1, 2)))

# The hard validation set (pits, cracks, faint Perlin, small chips; val_report.py), same rules.
from grdnet_train.train import build_hard_val_set, hard_metrics
hx, hm, kinds = build_hard_val_set(cfg, vf, data.ROISource(None, cfg.size, cfg.fit), tex, meta["mean"], meta["std"])
hmaps = run_maps(net, hx)
th = torch.from_numpy(hmaps)[:, None]
def hard_rep(name, s):
    r = hard_metrics(hmaps, hm, kinds, s)
    per = " ".join(f"{k[len('image_auroc_'):]} {100 * v:6.2f}" for k, v in r.items() if k.startswith("image_auroc_"))
    print(f"hard {name:14s} img {100 * r['image_auroc']:6.2f}  {per}")
hard_rep("box21 plain", F.avg_pool2d(th, 21, 1, 10, count_include_pad=True).amax(dim=(1, 2, 3)).numpy())
for k in (1, 5, 11, 21):
    btr = F.avg_pool2d(torch.from_numpy(trm)[:, None], k, 1, k // 2, count_include_pad=True)[:, 0].numpy()
    bh = F.avg_pool2d(th, k, 1, k // 2, count_include_pad=True)[:, 0].numpy()
    hard_rep(f"box{k} z f0.01", ((bh - btr.mean(0)) / (btr.std(0) + 0.01)).max((1, 2)))
