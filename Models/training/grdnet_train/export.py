"""ONNX fp32 export of the inference graph (opset 17), sidecar JSON and an int8 calibration set."""
from __future__ import annotations

import json
import os

import numpy as np

ALLOWED_OPS = {"Conv", "ConvTranspose", "LeakyRelu", "Relu", "Add", "Concat", "MaxPool",
               "AveragePool", "Sigmoid", "Softmax", "Resize"}


def export_onnx(net, path: str, channels: int, size: int) -> list[str]:
    """Writes `path`; returns the op types used (checked against the engine's supported set)."""
    import onnx
    import torch

    net = net.eval().float()
    dummy = torch.zeros(1, channels, size, size)
    torch.onnx.export(net, (dummy,), path, opset_version=17, dynamo=False,
                      input_names=["image"], output_names=["anomaly"], do_constant_folding=True)
    m = onnx.load(path)
    onnx.checker.check_model(m)
    ops = sorted({n.op_type for n in m.graph.node})
    bad = [o for o in ops if o not in ALLOWED_OPS]
    if bad:
        raise RuntimeError(f"exported graph uses ops the engine does not support: {bad}")
    return ops


def calibration_set(checkpoint_meta: dict, data_root: str, files: list[str], n: int, size: int) -> np.ndarray:
    """N good training images (evenly spread over the sorted train split), preprocessed at `size`."""
    from . import data

    folder = data.good_folder(data_root)
    paths = [os.path.join(folder, f) for f in files]
    step = max(1, len(paths) // n)
    pick = paths[::step][:n]
    fit = checkpoint_meta.get("fit", "squash")
    imgs = np.stack([data.load_image(p, size, checkpoint_meta["channels"], fit, data.pad_pixels(checkpoint_meta["mean"]))
                     for p in pick])
    return data.normalise(imgs, checkpoint_meta["mean"], checkpoint_meta["std"])


def learned_ranges(checkpoint: dict) -> list | None:
    """The (lo, hi) activation ranges of a quantisation-aware checkpoint, in the converter's order
    (qat.py lists its points in graph order; the converter checks the count)."""
    q = checkpoint.get("qat")
    return [list(r) for r in q["ranges"].values()] if q else None


def learned_balance_gamma(checkpoint: dict) -> float | None:
    """The skip-join gamma a quantisation-aware fine-tune simulated (qat.py), so the converter
    rescales the joins exactly as the network was tuned for; None = the converter's default."""
    q = checkpoint.get("qat")
    return q.get("balance_gamma") if q else None


def export_main(a) -> int:
    import torch

    from .evaluate import load_float_model
    from .model import count_macs

    net, meta = load_float_model(a.checkpoint)
    size = a.size or meta["input_size"]
    ops = export_onnx(net, a.out, meta["channels"], size)
    ck = torch.load(a.checkpoint, weights_only=False, map_location="cpu")
    macs = count_macs(net, (1, meta["channels"], size, size))
    side = {"format": "grdnet-edge onnx sidecar v1", "input": "image", "output": "anomaly",
            "layout": "NCHW", "channels": meta["channels"], "input_size": size,
            "train_size": ck["config"]["size"], "train_crop": ck["config"]["crop"],
            "mean": meta["mean"], "std": meta["std"],
            "normalisation": "(pixel/255 - mean[c]) / std[c]", "fit": meta["fit"],
            "output_activation": "sigmoid, 1 channel, anomaly probability per pixel",
            "image_score": "max of the 21x21 box-filtered anomaly map",
            "score_box_filter": 21, "recommended_threshold": a.threshold,
            "macs": macs, "ops": ops, "iteration": ck["iter"], "model": ck["config"]["model"]}
    ranges = learned_ranges(ck)
    if ranges:   # int8 rebuilds (evaluate --int8) must use the same ranges as the shipped .grdnet
        side["activation_ranges"] = ranges
    gamma = learned_balance_gamma(ck)
    if gamma is not None:   # ... and the same skip-join rescale
        side["skip_concat_balance_gamma"] = gamma
    letterbox_pad = None
    if meta["fit"] == "letterbox":   # the box must place frames exactly as training did
        from . import data
        letterbox_pad = side["letterbox_pad"] = data.pad_pixels(meta["mean"])
    with open(os.path.splitext(a.out)[0] + ".json", "w") as f:
        json.dump(side, f, indent=1)
    print(f"wrote {a.out} ({os.path.getsize(a.out) / 1e6:.2f} MB), ops {ops}, {macs / 1e9:.3f} GMAC "
          f"at {size}x{size}")
    if a.calibration:
        cal = calibration_set(meta, ck["config"]["data"], ck["train_files"], a.calibration_count, size)
        np.save(a.calibration, cal.astype(np.float32))
        print(f"wrote {a.calibration}: {cal.shape} float32 from the train split (not validation)")
        if a.grdnet:
            from . import int8
            card = json.load(open(a.card)) if a.card else {}
            g, nbytes = int8.build_grdnet(a.out, a.grdnet, cal, meta["mean"], meta["std"], a.threshold, card, ranges,
                                          balance_gamma=gamma, letterbox_pad=letterbox_pad)
            print(f"wrote {a.grdnet}: {nbytes / 1e6:.2f} MB int8, {len(g.ops)} ops, activation ranges "
                  + ("learned by quantisation-aware training" if ranges else "calibrated on the good images"))
    elif a.grdnet:
        raise SystemExit("export: --grdnet needs --calibration (the int8 ranges come from good images)")
    return 0


def count_macs_main(a) -> int:
    from .model import GRDNet, ModelConfig, count_macs

    if a.checkpoint:
        from .evaluate import load_float_model
        net, meta = load_float_model(a.checkpoint)
        ch = meta["channels"]
    else:
        net, ch = GRDNet(ModelConfig(channels=a.channels)).inference(), a.channels
    m = count_macs(net, (1, ch, a.size, a.size))
    params = sum(p.numel() for p in net.parameters())
    print(f"inference graph: {m / 1e9:.3f} GMAC at {a.size}x{a.size}x{ch}, {params} parameters")
    for name, part in (("generator encoder", net.enc), ("generator decoder", None), ("U-Net", net.unet)):
        if part is None:
            import torch.nn as nn
            mm = count_macs(nn.Sequential(net.enc, net.dec), (1, ch, a.size, a.size)) - count_macs(net.enc, (1, ch, a.size, a.size))
        elif part is net.unet:
            mm = count_macs(part, (1, 2 * ch, a.size, a.size))
        else:
            mm = count_macs(part, (1, ch, a.size, a.size))
        print(f"  {name}: {mm / 1e9:.3f} GMAC")
    return 0
