"""Validation-only: writes the two fixed validation sets (old: Perlin/breaks; hard: pit/crack/faint/chip) as MVTec-layout folders
(256x256 grey PNG, masks) so the Swift engine scores them as the box would: `grdnet eval --model M
--dataset OUT/hard --precision int8|fp32` (int8 against fp32, on validation, before any test figure).
The defects are the fixed ones of val_report.py / score_rules.py. Test images are never read.
Usage (from Models/training): python val_sets.py RUN/best.pt OUT"""
import os, sys, numpy as np, torch
from PIL import Image
from grdnet_train import data, textures
from grdnet_train.train import TrainConfig, build_val_set, build_hard_val_set
ck = torch.load(sys.argv[1], weights_only=False, map_location="cpu")
cfg = TrainConfig(**{k: v for k, v in ck["config"].items() if k in TrainConfig.__dataclass_fields__}); cfg.seed = 0
folder = data.good_folder(cfg.data); roi = data.ROISource(None, cfg.size); tex = textures.require_textures()
vf = [os.path.join(folder, f) for f in ck["val_files"]]
mean, std = ck["mean"], ck["std"]
def px(x): return np.clip(np.rint((x[0] * std[0] + mean[0]) * 255.0), 0, 255).astype(np.uint8)
vx, vm = build_val_set(cfg, vf, roi, tex, mean, std)
hx, hm, kinds = build_hard_val_set(cfg, vf, roi, tex, mean, std)
names = ["pit", "crack", "faint", "chip"]
for setname, x, m, kindof in (("old", vx, vm, lambda i: "break" if (i // 2) % 3 == 2 else "perlin"),
                              ("hard", hx, hm, lambda i: names[int(kinds[i // 2])])):
    root = os.path.join(sys.argv[2], setname)
    for i in range(len(x)):
        cls = "good" if i % 2 == 0 else kindof(i)
        d = f"{root}/test/{cls}"; os.makedirs(d, exist_ok=True)
        Image.fromarray(px(x[i])).save(f"{d}/v{i:03d}.png")
        if cls != "good":
            g = f"{root}/ground_truth/{cls}"; os.makedirs(g, exist_ok=True)
            Image.fromarray(((m[i] > 0) * 255).astype(np.uint8)).save(f"{g}/v{i:03d}_mask.png")
    print(setname, {c: len(os.listdir(f"{root}/test/{c}")) for c in os.listdir(f"{root}/test")})
