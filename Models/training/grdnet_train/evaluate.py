"""Metrics on an MVTec-layout test split: image AUROC, pixel AUROC, pixel AP, PRO, per class."""
from __future__ import annotations

import json
import os
import sys

import numpy as np
from PIL import Image

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
            "input_size": cfg["size"], "iter": ck["iter"], "fit": cfg.get("fit", "squash")}
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


def compute_metrics(classes: list[str], gts: np.ndarray, maps: np.ndarray, with_pro: bool = True,
                    image_scores: np.ndarray | None = None, roi: np.ndarray | None = None) -> dict:
    """Overall and per-defect-class metrics; each class is scored against all good images.
    roi (NxHxW, e.g. the letterbox content): image scores and pixel AUROC/AP inside it only; PRO's
    false-positive rate then counts only ROI pixels too (the map is zeroed outside, where no defect
    lies, and those pixels are left out of the negatives)."""
    scores = metrics.box_filter_max(maps, roi=roi) if image_scores is None else image_scores
    labels = np.array([c != "good" for c in classes])
    cls_arr = np.array(classes)

    def block(sel: np.ndarray) -> dict:
        inside = np.ones(gts[sel].shape, bool) if roi is None else roi[sel] > 0
        y, s = gts[sel][inside] > 0, maps[sel][inside]
        pixel_auroc, pixel_ap = metrics.auroc_and_average_precision(y, s)
        r = {"n": int(sel.sum()), "n_defective": int(labels[sel].sum()),
             "image_auroc": metrics.auroc(labels[sel], scores[sel]),
             "pixel_auroc": pixel_auroc, "pixel_ap": pixel_ap}
        if with_pro:
            r["pro"] = metrics.pro_auc(gts[sel], maps[sel], valid=None if roi is None else inside)
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
        if not isinstance(v, dict) or "n" not in v:
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
    fit = meta.get("fit", "squash")
    items = data.mvtec_test_set(a.data)
    imgs = np.stack([data.load_image(p, size, ch, fit, data.pad_pixels(meta["mean"])) for p, _, _ in items])

    def gt_mask(image_path, mask_path):
        if not mask_path:
            return np.zeros((size, size), np.float32)
        with Image.open(image_path) as im:
            return data.load_mask(mask_path, size, fit, im.size)
    gts = np.stack([gt_mask(p, g) for p, _, g in items])
    rois = None if fit == "squash" else np.stack([data.content_mask(p, size, fit) for p, _, _ in items])
    x = data.normalise(imgs, meta["mean"], meta["std"])
    engine_scores = None
    if getattr(a, "int8", None):
        if not a.onnx:
            print("evaluate: --int8 needs --onnx", file=sys.stderr)
            return 2
        import tempfile

        from . import int8
        import hashlib
        with tempfile.TemporaryDirectory() as td:
            g, _ = int8.build_grdnet(a.onnx, os.path.join(td, "m.grdnet"), np.load(a.int8),
                                     meta["mean"], meta["std"], a.threshold, None, meta.get("activation_ranges"),
                                     balance_gamma=meta.get("skip_concat_balance_gamma"),
                                     letterbox_pad=meta.get("letterbox_pad"))
            with open(os.path.join(td, "m.grdnet"), "rb") as f:
                weights_sha = hashlib.sha256(f.read()).hexdigest()
        maps, engine_scores = int8.int8_maps_and_scores(g, list(imgs), rois=rois)
    else:
        maps = run_maps(runner, x)
    res, scores = compute_metrics([c for _, c, _ in items], gts, maps, image_scores=engine_scores, roi=rois)
    if engine_scores is not None:
        res["int8_file_sha256"] = weights_sha  # equals the shipped file when built alike
    if a.threshold is not None:
        labels = np.array([c != "good" for _, c, _ in items])
        rej = scores >= a.threshold
        res["at_threshold"] = {"threshold": a.threshold,
                               "good_rejected": int(np.sum(rej & ~labels)), "good": int(np.sum(~labels)),
                               "defective_caught": int(np.sum(rej & labels)),
                               "defective": int(np.sum(labels))}
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        print(format_table(res))
        print("image-score thresholds:", json.dumps(res["threshold_suggestions"]))
        if "at_threshold" in res:
            print("at threshold:", json.dumps(res["at_threshold"]))
    if a.overlays:
        write_overlays(items, imgs, maps, scores, a.overlay_dir or "overlays", a.overlays)
    return 0


def threshold_main(a) -> int:
    """Scores the held-out validation split (good images, and the same with synthetic defects):
    recommends the highest good score (no held-out good part rejected) and reports the synthetic
    catch rate there. Test images are never used for this."""
    import torch

    from . import textures
    from .train import TrainConfig, build_val_set, val_pair_rois

    net, meta = load_float_model(a.checkpoint)
    ck = torch.load(a.checkpoint, weights_only=False, map_location="cpu")
    cfg = TrainConfig(**{k: v for k, v in ck["config"].items()})
    folder = data.good_folder(cfg.data)
    val_files = [os.path.join(folder, f) for f in ck["val_files"]]
    tex = textures.require_textures() if cfg.textures else []
    roi_src = data.ROISource(cfg.roi, cfg.size, cfg.fit)
    vx, vm = build_val_set(cfg, val_files, roi_src, tex, meta["mean"], meta["std"])
    maps = run_maps(net, vx)
    scores = metrics.box_filter_max(maps, roi=val_pair_rois(cfg, val_files, roi_src))
    good, bad = scores[0::2], scores[1::2]
    t = float(good.max())
    out = {"validation_good": len(good), "good_max": t, "good_p99": float(np.percentile(good, 99)),
           "recommended_threshold": t, "synthetic_caught_at_threshold": float(np.mean(bad >= t)),
           "val_image_auroc_synthetic": metrics.auroc([0] * len(good) + [1] * len(bad),
                                                      np.r_[good, bad])}
    print(json.dumps(out, indent=1))
    return 0
