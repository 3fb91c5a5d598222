"""Validation-only: writes the fixed validation sets (old: Perlin/breaks; hard: pit/crack/faint/chip;
wide: the hard set's 76 good images with 4 defects each, one of every kind, for the int8-against-fp32
check) as MVTec-layout folders
(256x256 grey PNG, masks) so the Swift engine scores them as the box would: `grdnet eval --model M
--dataset OUT/hard --precision int8|fp32` (int8 against fp32, on validation, before any test figure).
The defects are the fixed ones of val_report.py / score_rules.py. Test images are never read.
Usage (from Models/training): python val_sets.py RUN/best.pt OUT"""
import os, sys, numpy as np, torch
from PIL import Image
from grdnet_train import data, textures
from grdnet_train.train import TrainConfig, build_val_set, build_hard_val_set, build_wide_hard_val_set
ck = torch.load(sys.argv[1], weights_only=False, map_location="cpu")
cfg = TrainConfig(**{k: v for k, v in ck["config"].items() if k in TrainConfig.__dataclass_fields__}); cfg.seed = 0
folder = data.good_folder(cfg.data); roi = data.ROISource(None, cfg.size, cfg.fit); tex = textures.require_textures()
vf = [os.path.join(folder, f) for f in ck["val_files"]]
mean, std = ck["mean"], ck["std"]
def px(x): return np.clip(np.rint((x[0] * std[0] + mean[0]) * 255.0), 0, 255).astype(np.uint8)
# letterbox: each image is written as its part only (the content rectangle), which the box places
# back on exactly those pixels (data.letterbox_box of a full-width or full-height rectangle is
# itself), so the engine pads, masks and scores it as it does a camera frame
rects = [data.content_rect(data.content_mask(p, cfg.size, cfg.fit)) for p in vf]
def part(a, i): y0, y1, x0, x1 = rects[i]; return a[y0:y1, x0:x1]
vx, vm = build_val_set(cfg, vf, roi, tex, mean, std)
hx, hm, kinds = build_hard_val_set(cfg, vf, roi, tex, mean, std)
names = ["pit", "crack", "faint", "chip"]


def write(root, cls, name, x, i, mask=None):
    """i: the validation image it was made from (its part's rectangle)."""
    d = f"{root}/test/{cls}"; os.makedirs(d, exist_ok=True)
    Image.fromarray(part(px(x), i)).save(f"{d}/{name}.png")
    if mask is not None:
        g = f"{root}/ground_truth/{cls}"; os.makedirs(g, exist_ok=True)
        Image.fromarray(part(((mask > 0) * 255).astype(np.uint8), i)).save(f"{g}/{name}_mask.png")


for setname, x, m, kindof in (("old", vx, vm, lambda i: "break" if (i // 2) % 3 == 2 else "perlin"),
                              ("hard", hx, hm, lambda i: names[int(kinds[i // 2])])):
    root = os.path.join(sys.argv[2], setname)
    for i in range(len(x)):
        good = i % 2 == 0
        write(root, "good" if good else kindof(i), f"v{i:03d}", x[i], i // 2, None if good else m[i])
    print(setname, {c: len(os.listdir(f"{root}/test/{c}")) for c in os.listdir(f"{root}/test")})
# the wide set: its 76 good images, then the 4 x 76 defective ones (repeat 0 = the hard set's)
gx, dx, dm, dk = build_wide_hard_val_set(cfg, vf, roi, tex, mean, std)
root = os.path.join(sys.argv[2], "wide")
for i in range(len(gx)):
    write(root, "good", f"g{i:03d}", gx[i], i)
for j in range(len(dx)):
    write(root, names[int(dk[j])], f"d{j:03d}", dx[j], j % len(gx), dm[j])
print("wide", {c: len(os.listdir(f"{root}/test/{c}")) for c in os.listdir(f"{root}/test")})
