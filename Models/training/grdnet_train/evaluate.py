"""Metrics on an MVTec-layout test split: image AUROC, pixel AUROC, pixel AP, PRO, per class."""
from __future__ import annotations

import json
import os
import sys

import numpy as np

from . import data, metrics


def load_float_model(checkpoint: str):
    """(InferenceNet, sidecar-like dict) from a training checkpoint."""
    import torch

    from .model import GRDNet, ModelConfig

    ck = torch.load(checkpoint, weights_only=False, map_location="cpu")
    cfg = ck["config"]
    model = GRDNet(ModelConfig(**cfg["model"]))
    model.load_state_dict(ck["model"])
    net = model.inference().eval()
    meta = {"mean": ck["mean"], "std": ck["std"], "channels": cfg["channels"],
            "input_size": cfg["size"], "iter": ck["iter"]}
    return net, meta


class OnnxRunner:
    def __init__(self, path: str, threads: int = 1):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.concatenate([self.sess.run(None, {"image": x[i:i + 1]})[0] for i in range(len(x))])


def run_maps(runner, x: np.ndarray, batch: int = 8) -> np.ndarray:
    """Anomaly maps NxHxW for normalised NCHW input, with a torch module or an OnnxRunner."""
    if isinstance(runner, OnnxRunner):
        return runner(x)[:, 0]
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(runner(torch.from_numpy(x[i:i + batch])).numpy()[:, 0])
    return np.concatenate(out)


def compute_metrics(classes: list[str], gts: np.ndarray, maps: np.ndarray, with_pro: bool = True) -> dict:
    """Overall and per-defect-class metrics; each class is scored against all good images."""
    scores = metrics.box_filter_max(maps)
    labels = np.array([c != "good" for c in classes])
    cls_arr = np.array(classes)

    def block(sel: np.ndarray) -> dict:
        r = {"n": int(sel.sum()), "n_defective": int(labels[sel].sum()),
             "image_auroc": metrics.auroc(labels[sel], scores[sel]),
             "pixel_auroc": metrics.auroc(gts[sel].ravel() > 0, maps[sel].ravel()),
             "pixel_ap": metrics.average_precision(gts[sel].ravel() > 0, maps[sel].ravel())}
        if with_pro:
            r["pro"] = metrics.pro_auc(gts[sel], maps[sel])
        return r

    res = {"overall": block(np.ones(len(classes), bool))}
    for c in sorted(set(classes) - {"good"}):
        res[c] = block((cls_arr == c) | (cls_arr == "good"))
    good = scores[~labels]
    res["threshold_suggestions"] = {
        "good_max": float(good.max()), "good_p99": float(np.percentile(good, 99)),
        "best_f1": best_f1_threshold(labels, scores)}
    return res, scores


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> dict:
    best = (0.0, 0.0)
    for t in np.unique(scores):
        pred = scores >= t
        tp = np.sum(pred & labels)
        fp = np.sum(pred & ~labels)
        fn = np.sum(~pred & labels)
        f1 = 2 * tp / max(1, 2 * tp + fp + fn)
        if f1 > best[0]:
            best = (float(f1), float(t))
    return {"f1": best[0], "threshold": best[1]}


def format_table(res: dict) -> str:
    rows = ["| set | images (defective) | image AUROC | pixel AUROC | pixel AP | PRO |",
            "|---|---|---|---|---|---|"]
    for k, v in res.items():
        if k == "threshold_suggestions":
            continue
        pro = f"{100 * v['pro']:.1f}" if "pro" in v else "-"
        rows.append(f"| {k} | {v['n']} ({v['n_defective']}) | {100 * v['image_auroc']:.1f} | "
                    f"{100 * v['pixel_auroc']:.1f} | {100 * v['pixel_ap']:.1f} | {pro} |")
    return "\n".join(rows)


def write_overlays(items, images_u8, maps, scores, out_dir: str, n: int) -> None:
    from PIL import Image

    os.makedirs(out_dir, exist_ok=True)
    idx = np.linspace(0, len(items) - 1, min(n, len(items))).astype(int)
    for i in idx:
        g = images_u8[i][..., 0] if images_u8.shape[-1] == 1 else images_u8[i].mean(-1)
        rgb = np.stack([g, g, g], -1).astype(np.float32)
        heat = np.stack([maps[i], np.zeros_like(maps[i]), 1 - maps[i]], -1) * 255
        a = 0.5 * maps[i][..., None]
        out = (rgb * (1 - a) + heat * a).clip(0, 255).astype(np.uint8)
        name = f"{items[i][1]}_{os.path.splitext(os.path.basename(items[i][0]))[0]}_score{scores[i]:.3f}.png"
        Image.fromarray(out).save(os.path.join(out_dir, name))


def evaluate_main(a) -> int:
    if bool(a.checkpoint) == bool(a.onnx):
        print("evaluate: give exactly one of --checkpoint or --onnx", file=sys.stderr)
        return 2
    if a.onnx:
        side = os.path.splitext(a.onnx)[0] + ".json"
        with open(side) as f:
            meta = json.load(f)
        runner = OnnxRunner(a.onnx)
    else:
        runner, meta = load_float_model(a.checkpoint)
    size, ch = meta["input_size"], meta["channels"]
    items = data.mvtec_test_set(a.data)
    imgs = np.stack([data.load_image(p, size, ch) for p, _, _ in items])
    gts = np.stack([data.load_mask(g, size) if g else np.zeros((size, size), np.float32)
                    for _, _, g in items])
    x = data.normalise(imgs, meta["mean"], meta["std"])
    maps = run_maps(runner, x)
    res, scores = compute_metrics([c for _, c, _ in items], gts, maps)
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        print(format_table(res))
        print("image-score thresholds:", json.dumps(res["threshold_suggestions"]))
    if a.overlays:
        write_overlays(items, imgs, maps, scores, a.overlay_dir or "overlays", a.overlays)
    return 0
