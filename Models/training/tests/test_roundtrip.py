"""Tiny train -> resume -> ONNX export -> onnxruntime == PyTorch -> evaluate on a fake MVTec set."""
import json
import os

import numpy as np
import onnx
from PIL import Image

from grdnet_train.__main__ import main

TINY = json.dumps({"gen_widths": [4, 8, 8], "z_channels": 4, "unet_widths": [4, 8, 8],
                   "disc_widths": [4, 8]})


def make_dataset(root, n_good=12, size=(40, 48)):
    rng = np.random.default_rng(0)
    base = (np.indices(size).sum(0) % 8 * 20 + 60).astype(np.uint8)
    os.makedirs(root / "train" / "good")
    for i in range(n_good):
        im = np.clip(base + rng.integers(0, 20, size), 0, 255).astype(np.uint8)
        Image.fromarray(im).save(root / "train" / "good" / f"g{i}.png")
    for cls in ("good", "scratch"):
        os.makedirs(root / "test" / cls)
    os.makedirs(root / "ground_truth" / "scratch")
    for i in range(3):
        im = np.clip(base + rng.integers(0, 20, size), 0, 255).astype(np.uint8)
        Image.fromarray(im).save(root / "test" / "good" / f"t{i}.png")
        im2 = im.copy()
        im2[10:20, 10:30] = 255
        Image.fromarray(im2).save(root / "test" / "scratch" / f"s{i}.png")
        gt = np.zeros(size, np.uint8)
        gt[10:20, 10:30] = 255
        Image.fromarray(gt).save(root / "ground_truth" / "scratch" / f"s{i}_mask.png")


def test_tiny_train_export_roundtrip(tmp_path, capsys):
    import onnxruntime as ort
    import torch

    from grdnet_train.evaluate import load_float_model

    root = tmp_path / "ds"
    make_dataset(root)
    out = tmp_path / "run"
    common = ["train", "--data", str(root), "--out", str(out), "--size", "32", "--crop", "32",
              "--batch", "2", "--val-every", "2", "--ckpt-every", "2", "--val-fraction", "0.3",
              "--widths", TINY, "--threads", "1"]
    assert main(common + ["--iters", "2"]) == 0
    assert main(common + ["--iters", "4", "--resume"]) == 0
    log = capsys.readouterr()
    assert "resumed from" in log.out and "validation @ 4" in log.out
    ck = torch.load(out / "last.pt", weights_only=False)
    assert ck["iter"] == 4
    assert set(ck["train_files"]).isdisjoint(ck["val_files"])

    onnx_path = tmp_path / "m.onnx"
    cal = tmp_path / "cal.npy"
    assert main(["export", "--checkpoint", str(out / "last.pt"), "--out", str(onnx_path),
                 "--size", "64", "--calibration", str(cal), "--calibration-count", "3",
                 "--threshold", "0.5", "--grdnet", str(tmp_path / "m.grdnet")]) == 0
    assert (tmp_path / "m.grdnet").stat().st_size > 1000
    side = json.loads((tmp_path / "m.json").read_text())
    assert side["input_size"] == 64 and side["channels"] == 1 and side["recommended_threshold"] == 0.5
    m = onnx.load(str(onnx_path))
    assert m.opset_import[0].version == 17
    assert m.graph.input[0].name == "image"
    assert not {n.op_type for n in m.graph.node} - {"Conv", "ConvTranspose", "LeakyRelu", "Relu",
                                                      "Add", "Concat", "MaxPool", "Sigmoid"}
    c = np.load(cal)
    assert c.shape == (3, 1, 64, 64) and c.dtype == np.float32
    assert abs(float(c.mean())) < 1.0  # normalised

    net, _ = load_float_model(str(out / "last.pt"))
    x = np.random.default_rng(1).standard_normal((1, 1, 64, 64)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    assert got.shape == (1, 1, 64, 64)
    assert np.abs(got - ref).max() < 1e-4

    capsys.readouterr()
    assert main(["evaluate", "--onnx", str(onnx_path), "--data", str(root), "--json",
                 "--overlays", "2", "--overlay-dir", str(tmp_path / "ov")]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["overall"]["n"] == 6 and res["overall"]["n_defective"] == 3
    assert 0 <= res["overall"]["image_auroc"] <= 1 and "scratch" in res
    assert len(os.listdir(tmp_path / "ov")) == 2
    float_res = res

    # int8 through the engine's converter and integer reference: close to float on this toy set
    assert main(["evaluate", "--onnx", str(onnx_path), "--data", str(root), "--json", "--int8", str(cal)]) == 0
    res8 = json.loads(capsys.readouterr().out)
    assert res8["overall"]["n"] == 6
    assert abs(res8["overall"]["pixel_auroc"] - float_res["overall"]["pixel_auroc"]) < 0.2


def test_letterbox_int8_evaluation_rebuilds_the_exported_file(tmp_path, capsys):
    """`evaluate --int8` of a letterbox-trained model rebuilds the very file export wrote (frame-fit
    section included: same SHA-256); test_int8 checks the scores look inside each part only."""
    import hashlib

    root = tmp_path / "ds"
    make_dataset(root)   # 40x48 images: letterboxing pads them
    out = tmp_path / "run"
    assert main(["train", "--data", str(root), "--out", str(out), "--size", "32", "--crop", "32",
                 "--batch", "2", "--val-every", "2", "--ckpt-every", "2", "--val-fraction", "0.3",
                 "--widths", TINY, "--threads", "1", "--iters", "2", "--fit", "letterbox"]) == 0
    onnx_path, cal, grd = tmp_path / "m.onnx", tmp_path / "cal.npy", tmp_path / "m.grdnet"
    assert main(["export", "--checkpoint", str(out / "last.pt"), "--out", str(onnx_path), "--size", "64",
                 "--calibration", str(cal), "--calibration-count", "3", "--grdnet", str(grd)]) == 0
    assert "letterbox_pad" in json.loads((tmp_path / "m.json").read_text())
    capsys.readouterr()
    assert main(["evaluate", "--onnx", str(onnx_path), "--data", str(root), "--json", "--int8", str(cal)]) == 0
    res8 = json.loads(capsys.readouterr().out)
    assert res8["int8_file_sha256"] == hashlib.sha256(grd.read_bytes()).hexdigest()
    assert res8["overall"]["n"] == 6


def test_train_without_textures_installed_is_an_error(tmp_path, monkeypatch):
    """No .pat files found must stop training, not quietly train another defect mix."""
    import pytest

    from grdnet_train import textures

    root = tmp_path / "ds"
    make_dataset(root)
    monkeypatch.setattr(textures, "GIMP_PATTERN_DIRS", [str(tmp_path / "no-patterns")])
    args = ["train", "--data", str(root), "--out", str(tmp_path / "run"), "--size", "32", "--crop", "32",
            "--batch", "2", "--iters", "1", "--val-fraction", "0.3", "--widths", TINY, "--threads", "1"]
    with pytest.raises(FileNotFoundError, match="gimp-data"):
        main(args)
    assert not (tmp_path / "run" / "last.pt").exists()
    assert main(args + ["--no-textures"]) == 0
