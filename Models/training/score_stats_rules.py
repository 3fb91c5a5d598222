"""Validation-only check of the standardised image score (model section 6, `grdnet model
score-stats`): per-pixel mean/std of the box-filtered map over the TRAIN split's good images,
then each rule's image AUROC on the fixed validation set (held-out good images, clean and with
one synthetic defect each). Test images are never read.
Usage (from Models/training): python score_stats_rules.py RUN/best.pt"""
import os, sys, numpy as np, torch
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
val_names = set(ck["val_files"])
vf = [os.path.join(folder, f) for f in ck["val_files"]]
trf = [p for p in data.list_images(folder) if os.path.basename(p) not in val_names]
size, ch = meta["input_size"], meta["channels"]
trm = run_maps(net, data.normalise(np.stack([data.load_image(p, size, ch) for p in trf]), meta["mean"], meta["std"]))
vx, _ = build_val_set(cfg, vf, data.ROISource(None, cfg.size), textures.load_textures(), meta["mean"], meta["std"])
vm = run_maps(net, vx)
lab = np.array([0, 1] * (len(vx) // 2))
box = lambda m, k: F.avg_pool2d(torch.from_numpy(m)[:, None], k, 1, k // 2, count_include_pad=True)[:, 0].numpy()
print(f"{ckp} iter {ck['iter']}: statistics from {len(trf)} train images, validation {len(vx)} images")
for k in (1, 5, 11, 21):
    btr, bv = box(trm, k), box(vm, k)
    mu, sd = btr.mean(0), btr.std(0)
    row = [f"box{k:<3d} plain {100 * metrics.auroc(lab, bv.max((1, 2))):6.2f}"]
    for s0 in (0.01, 0.05):
        row.append(f"z floor {s0} {100 * metrics.auroc(lab, ((bv - mu) / (sd + s0)).max((1, 2))):6.2f}")
    print("  ".join(row))
