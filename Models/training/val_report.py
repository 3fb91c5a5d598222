"""Validation-only report of a checkpoint on both validation sets (the old one: held-out good
images + Perlin/break defects; the hard one: pits, cracks, faint Perlin, small chips), fp32, the
engine's 21x21 box rule and top-k means. Test images are never read.
Usage (from Models/training): python val_report.py RUN/best.pt [...]"""
import json, os, sys
import numpy as np, torch
import torch.nn.functional as F
torch.set_num_threads(1)
from grdnet_train import data, metrics, textures
from grdnet_train.evaluate import load_float_model, run_maps
from grdnet_train.train import TrainConfig, build_val_set, build_hard_val_set, hard_metrics

tex = textures.require_textures()
for ckp in sys.argv[1:]:
    net, meta = load_float_model(ckp)
    ck = torch.load(ckp, weights_only=False, map_location="cpu")
    cfg = TrainConfig(**{k: v for k, v in ck["config"].items() if k in TrainConfig.__dataclass_fields__})
    cfg.seed = 0  # the fixed validation sets (seed 0), whatever the run's seed
    folder = data.good_folder(cfg.data)
    vf = [os.path.join(folder, f) for f in ck["val_files"]]
    roi = data.ROISource(None, cfg.size, cfg.fit)
    vx, vm = build_val_set(cfg, vf, roi, tex, meta["mean"], meta["std"])
    hx, hm, kinds = build_hard_val_set(cfg, vf, roi, tex, meta["mean"], meta["std"])
    maps, hmaps = run_maps(net, vx), run_maps(net, hx)
    lab = np.array([0, 1] * (len(vx) // 2))
    old = {"image_auroc": metrics.auroc(lab, metrics.box_filter_max(maps)),
           "pixel_auroc": metrics.auroc(vm.ravel() > 0, maps.ravel()),
           "pixel_ap": metrics.average_precision(vm.ravel() > 0, maps.ravel())}
    hard = hard_metrics(hmaps, hm, kinds)
    flat = hmaps.reshape(len(hmaps), -1)
    topk = {f"top{q}": hard_metrics(hmaps, hm, kinds, np.sort(flat, 1)[:, -q:].mean(1))["image_auroc"]
            for q in (100, 1000)}
    t = torch.from_numpy(hmaps)[:, None]
    box = {f"box{k}": hard_metrics(hmaps, hm, kinds, F.avg_pool2d(t, k, 1, k // 2).amax(dim=(1, 2, 3)).numpy())["image_auroc"]
           for k in (1, 5, 11)}
    r = {"checkpoint": ckp, "iter": ck["iter"], "old": old, "hard": hard, "hard_image_rules": {**box, **topk},
         "mean_good_map": float(hmaps[0::2].mean())}
    print(json.dumps({k: (round(100 * v, 2) if isinstance(v, float) else v) for k, v in r.items()}
                     if False else r, default=lambda o: o))
    f = lambda d: " ".join(f"{k} {100 * v:.2f}" for k, v in d.items())
    print(f"{ckp} it {ck['iter']}\n  old:  {f(old)}\n  hard: {f(hard)}\n  hard image rules: {f(r['hard_image_rules'])}", flush=True)
