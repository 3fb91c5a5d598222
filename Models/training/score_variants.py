"""Validation-only: other image scores for a shipped network, from its ONNX file (session 19).
Rebuilds the fixed validation sets (old, hard, wide; as val_sets.py) and the per-pixel
statistics of the train split's good images, runs the network (ONNX Runtime, fp32) with the
generator's reconstruction X^ exposed as a second output, and prints the image AUROC of:
the shipped rule (largest standardised 5x5 box mean of the map), the reconstruction residual
|X - X^| or (X - X^)^2 standardised the same way, the two combined, top-k means, dilated
statistics and a few others. Test images are never read.
Usage (from Models/training): python score_variants.py ../magnetic-tile.onnx DATASET_ROOT [CACHE.npz]"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F

from grdnet_train import data, metrics, textures
from grdnet_train.train import (TrainConfig, build_hard_val_set, build_val_set, build_wide_hard_val_set,
                                hard_image_aurocs, load_split)

model_path, root = sys.argv[1], sys.argv[2]
cache = sys.argv[3] if len(sys.argv) > 3 else None
side = json.load(open(os.path.splitext(model_path)[0] + ".json"))
mean, std, size = side["mean"], side["std"], side["input_size"]


def load_runner():
    m = onnx.load(model_path)
    # the U-Net's input is concat(X^, X): its other input is the reconstruction
    cat = next(n for n in m.graph.node if n.op_type == "Concat" and side["input"] in n.input)
    xhat = next(i for i in cat.input if i != side["input"])
    m.graph.output.append(onnx.helper.make_tensor_value_info(xhat, onnx.TensorProto.FLOAT, None))
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])

    def run(x):
        maps, recs = [], []
        for i in range(len(x)):
            a, xh = sess.run(None, {side["input"]: x[i:i + 1]})
            maps.append(a[0, 0])
            recs.append(xh[0, 0])
        return np.stack(maps), np.stack(recs)
    return run


if cache and os.path.exists(cache):
    z = np.load(cache)
    d = {k: z[k] for k in z.files}
else:
    cfg = TrainConfig(data=root, size=size, channels=side["channels"], seed=0)  # the fixed sets
    trf, vf = load_split(cfg)
    roi, tex = data.ROISource(None, size), textures.require_textures()
    d = {"tx": data.normalise(np.stack([data.load_image(p, size, cfg.channels) for p in trf]), mean, std)}
    d["vx"], d["vm"] = build_val_set(cfg, vf, roi, tex, mean, std)
    d["hx"], d["hm"], d["kinds"] = build_hard_val_set(cfg, vf, roi, tex, mean, std)
    d["gx"], d["dx"], d["dm"], d["dk"] = build_wide_hard_val_set(cfg, vf, roi, tex, mean, std)
    run = load_runner()
    for k in ("tx", "vx", "hx", "gx", "dx"):
        d[k + "_map"], d[k + "_rec"] = run(d[k])
    if cache:
        np.savez(cache, **d)
print(f"{len(d['tx'])} train images for the statistics; validation: old {len(d['vx'])}, "
      f"hard {len(d['hx'])}, wide {len(d['gx'])} + {len(d['dx'])}", flush=True)


def box(a, k):
    return F.avg_pool2d(torch.from_numpy(a)[:, None], k, 1, k // 2, count_include_pad=True)[:, 0].numpy()


def dilate(a, k):
    return F.max_pool2d(torch.from_numpy(a)[None, None], k, 1, k // 2)[0, 0].numpy()


def evaluate(score):
    """score(set key) -> per-image scores; image AUROC on each set (hard: also per kind)."""
    lab = np.array([0, 1] * (len(d["vx"]) // 2))
    out = {"old": metrics.auroc(lab, score("vx"))}
    hard = hard_image_aurocs(score("hx"), d["kinds"])
    out["hard"] = hard.pop("image_auroc")
    out.update({k[len("image_auroc_"):]: v for k, v in hard.items()})
    g, dd = score("gx"), score("dx")
    out["wide"] = metrics.auroc(np.r_[np.zeros(len(g)), np.ones(len(dd))], np.r_[g, dd])
    return out


def show(name, score):
    print(f"{name:30s} " + " ".join(f"{k} {100 * v:6.2f}" for k, v in evaluate(score).items()), flush=True)


def residual(k, kind):
    diff = d[k][:, 0] - d[k + "_rec"]
    return np.abs(diff) if kind == "l1" else diff ** 2


_stats = {}


def train_stats(name, train, k):
    """Per-pixel mean and std of the k x k box mean over the train images (computed once)."""
    if (name, k) not in _stats:
        b = box(train, k)
        _stats[(name, k)] = (b.mean(0), b.std(0))
    return _stats[(name, k)]


def zmap(a, train, k=5, floor=0.01, mu=None, sd=None, name="map"):
    tm, ts = train_stats(name, train, k)
    mu = tm if mu is None else mu
    sd = ts if sd is None else sd
    return (box(a, k) - mu) / (sd + floor)


shipped = lambda k: zmap(d[k + "_map"], d["tx_map"]).max((1, 2))
show("map box5 z f0.01 (shipped)", shipped)
for kind in ("l1", "l2"):
    for kb in (5, 11, 21):
        for floor in (0.01, 0.1):
            show(f"residual {kind} box{kb} z f{floor}",
                 lambda k, kind=kind, kb=kb, floor=floor: zmap(residual(k, kind), residual("tx", kind), kb, floor, name=kind).max((1, 2)))
for kb in (5, 11):
    res = lambda k, kb=kb: zmap(residual(k, "l1"), residual("tx", "l1"), kb, name="l1").max((1, 2))
    tm, tr = shipped("tx"), res("tx")   # each score in units of its spread over the train images
    for w in (0.25, 0.5, 1.0):
        show(f"map z + {w} residual z box{kb}",
             lambda k, w=w, res=res: (shipped(k) - tm.mean()) / tm.std() + w * (res(k) - tr.mean()) / tr.std())
for q in (10, 50, 200):
    show(f"top{q} mean of map z",
         lambda k, q=q: np.sort(zmap(d[k + "_map"], d["tx_map"]).reshape(len(d[k]), -1), 1)[:, -q:].mean(1))
b5 = box(d["tx_map"], 5)
for kd in (3, 5, 9, 15):
    sdd, mud = dilate(b5.std(0), kd), dilate(b5.mean(0), kd)
    show(f"std dilated {kd}", lambda k, sdd=sdd: zmap(d[k + "_map"], d["tx_map"], sd=sdd).max((1, 2)))
    show(f"mean, std dilated {kd}", lambda k, sdd=sdd, mud=mud: zmap(d[k + "_map"], d["tx_map"], mu=mud, sd=sdd).max((1, 2)))
q99, q50 = np.quantile(b5, 0.99, axis=0), np.median(b5, 0)
for floor in (0.01, 0.03):
    show(f"over train q99 f{floor}", lambda k, f=floor: ((box(d[k + "_map"], 5) - q99) / (q99 - q50 + f)).max((1, 2)))
for floor in (0.01, 0.03, 0.1):
    show(f"over train max f{floor}", lambda k, f=floor: ((box(d[k + "_map"], 5) - b5.max(0)) / (b5.std(0) + f)).max((1, 2)))
# where the held-out good images peak: the highest ones name their place and score
zg = zmap(d["gx_map"], d["tx_map"])
top = np.argsort(-zg.max((1, 2)))[:6]
print("held-out good images, highest scores: " + ", ".join(
    f"#{i} {zg[i].max():.2f} at (y, x) {divmod(int(zg[i].argmax()), zg[i].shape[1])}" for i in top))
print(f"held-out good median {np.median(zg.max((1, 2))):.2f}; hard-set defects' quartiles "
      + " / ".join(f"{v:.2f}" for v in np.quantile(zmap(d['hx_map'][1::2], d['tx_map']).max((1, 2)), [0.25, 0.5, 0.75])))
