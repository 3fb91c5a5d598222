"""Quantisation-aware fine-tuning simulates the converter's int8 rounding at the converter's tensors."""
import numpy as np
import pytest
import torch

from grdnet_train import int8
from grdnet_train.export import export_onnx
from grdnet_train.model import GRDNet, ModelConfig
from grdnet_train.qat import QAT, WeightFakeQuant, fake_quant, plain_state_dict, qparams

TINY = ModelConfig(gen_widths=[4, 8, 8], z_channels=4, unet_widths=[4, 8, 8], disc_widths=[4])
MEAN, STD = [0.45], [0.2]


def _export_with_images(model: GRDNet, tmp_path) -> tuple[str, np.ndarray, np.ndarray]:
    """The model's inference graph as ONNX at 32x32, 6 fixed random 8-bit images and their
    normalised NCHW copies."""
    path = str(tmp_path / "m.onnx")
    export_onnx(model.inference(), path, 1, 32)
    px = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 1), dtype=np.uint8)
    norm = ((px.astype(np.float32) / 255.0 - MEAN[0]) / STD[0]).transpose(0, 3, 1, 2).copy()
    return path, px, norm


def _file_meta(path) -> dict:
    """The metadata section of a .grdnet file (int8._converter() puts the converter on sys.path)."""
    import json
    int8._converter()
    import grdnet_format
    with open(path, "rb") as f:
        return json.loads(grdnet_format.read_sections(f.read())[grdnet_format.SEC_META])


def test_fake_quant_rounds_like_the_converter_and_clips_the_gradient():
    convert, _ = int8._converter()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(5000).astype(np.float32) * 2
    lo, hi = -1.5, 2.5   # narrower than x: some values clip
    s_ref, zp_ref = convert._qparams(lo, hi)
    q_ref = np.clip(np.rint(x.astype(np.float64) / s_ref) + zp_ref, -128, 127)
    want = (q_ref - zp_ref) * s_ref
    s, zp = qparams(torch.tensor(lo), torch.tensor(hi))
    assert int(zp) == zp_ref and abs(float(s) - s_ref) < 1e-9
    t = torch.tensor(x, requires_grad=True)
    got = fake_quant(t, s, zp)
    assert np.abs(got.detach().numpy() - want).max() < 1e-5
    assert len(np.unique(got.detach().numpy())) <= 256
    got.sum().backward()
    inside = (x >= (-128 - zp_ref) * s_ref) & (x <= (127 - zp_ref) * s_ref)
    assert inside.sum() > 100 and (~inside).sum() > 100
    assert np.array_equal(t.grad.numpy(), inside.astype(np.float32))


def test_weight_fake_quant_is_the_converters_per_channel_rounding():
    torch.manual_seed(0)
    for layer, axis in ((torch.nn.Conv2d(3, 5, 3), 0), (torch.nn.ConvTranspose2d(3, 5, 4, 2, 1), 1)):
        w = layer.weight.detach()
        ohwi = w.permute(0, 2, 3, 1) if axis == 0 else w.permute(1, 2, 3, 0)
        a = ohwi.numpy().astype(np.float64)
        amax = np.abs(a.reshape(a.shape[0], -1)).max(1)
        sw = amax / 127.0
        qw = np.clip(np.rint(a / sw[:, None, None, None]), -127, 127) * sw[:, None, None, None]
        got = WeightFakeQuant(axis)(w)
        got = (got.permute(0, 2, 3, 1) if axis == 0 else got.permute(1, 2, 3, 0)).numpy()
        assert np.abs(got - qw).max() < 1e-6
        assert not np.allclose(got, a)


def test_quant_points_are_exactly_the_tensors_the_converter_quantises(tmp_path):
    convert, ref = int8._converter()
    torch.manual_seed(0)
    model = GRDNet(TINY)
    path = str(tmp_path / "m.onnx")
    export_onnx(model.inference(), path, 1, 32)
    g = convert.import_onnx(path, 32, 32, [0.5], [0.25])
    own_range = [op for op in g.ops if op.output >= 0 and op.kind not in (ref.MAXPOOL, ref.RESIZE2X)]
    q = QAT(model)
    assert len(q.observers) == len(own_range)


def test_simulated_forward_tracks_the_int8_engine_built_with_the_learned_ranges(tmp_path):
    """The observed ranges line up, point by point, with the tensors the converter quantises (each
    within 5 % of its calibrated range on the same images), and the .grdnet built with them
    (convert(..., ranges=...)) computes what the simulation computes: the simulated forward is
    much closer to the integer engine than the plain float forward. Fails if a point is missing,
    misplaced or out of order, or the rounding differs."""
    convert, ref = int8._converter()
    torch.manual_seed(1)
    model = GRDNet(TINY)
    path, px, norm = _export_with_images(model, tmp_path)
    calibrated, _ = int8.build_grdnet(path, str(tmp_path / "c.grdnet"), norm, MEAN, STD, None, None, balance_gamma=0.0)
    net = model.inference()
    with torch.no_grad():
        plain = net(torch.from_numpy(norm))[:, 0].numpy()
        q = QAT(model, observe_only=1, momentum=1.0)
        net.train()
        net(torch.from_numpy(norm))   # observed ranges = min/max over these images
        q.step()
        net.eval()
        sim = net(torch.from_numpy(norm))[:, 0].numpy()
    ranges = [list(r) for r in q.ranges().values()]
    for (name, (lo, hi)), op in zip(q.ranges().items(), convert.ranged_ops(calibrated)):
        t = calibrated.tensors[op.output]
        s, _ = qparams(torch.tensor(lo), torch.tensor(hi))
        assert abs(float(s) / t.scale - 1) < 0.05, (name, float(s), t.scale)
    # the simulation quantises each skip join with one range, as the converter does without its
    # rescale (balance_gamma 0, here and above); the shipped export rescales after the fine-tune
    g, _ = int8.build_grdnet(path, str(tmp_path / "m.grdnet"), norm, MEAN, STD, None, None, ranges, balance_gamma=0.0)
    for (lo, hi), op in zip(ranges, convert.ranged_ops(g)):
        s, zp = convert._qparams(min(lo, 0.0), max(hi, 0.0))
        assert (g.tensors[op.output].scale, g.tensors[op.output].zp) == (s, zp)
    heat = np.stack([ref.forward_int8(g, p)[1] for p in px])
    err_plain = np.abs(plain - heat).mean()
    err_sim = np.abs(sim - heat).mean()
    assert err_plain > 1e-5, "the int8 engine should differ from float here"
    assert err_sim < 0.3 * err_plain, (err_sim, err_plain)
    with pytest.raises(convert.ConversionError, match="learned activation ranges"):
        int8.build_grdnet(path, str(tmp_path / "x.grdnet"), norm, MEAN, STD, None, None, ranges[:-1])
    with pytest.raises(convert.ConversionError, match="not a finite lo < hi"):
        int8.build_grdnet(path, str(tmp_path / "x.grdnet"), norm, MEAN, STD, None, None,
                          ranges[:3] + [[1.0, 1.0]] + ranges[4:])
    sd = plain_state_dict(model)
    q.detach()
    assert set(sd) == set(model.state_dict())


def test_balanced_simulation_tracks_the_engine_with_rescaled_skip_joins(tmp_path):
    """--qat-balance-gamma: the simulation rescales each skip join as convert.balance_skip_concats
    does (same alpha from the same ranges), so it computes what the .grdnet built with that gamma
    computes, much closer than the simulation of the unrescaled joins does. The up-convolutions
    are made ~100x wider than their skips, as in the shipped network. Fails if the join is simulated
    without the rescale, with another alpha, or without the next convolution's weight divisor."""
    convert, ref = int8._converter()
    torch.manual_seed(1)
    model = GRDNet(TINY)
    with torch.no_grad():
        for up in model.unet.upconvs:
            up.weight.mul_(100.0)
            up.bias.mul_(100.0)
    path, px, norm = _export_with_images(model, tmp_path)

    def simulate(gm: float) -> tuple[QAT, np.ndarray]:
        """A copy of the model with ranges observed on the images (momentum 1), then rounded."""
        m = GRDNet(TINY)
        m.load_state_dict(model.state_dict())
        net = m.inference()
        with torch.no_grad():
            q = QAT(m, observe_only=1, momentum=1.0, balance_gamma=gm)
            net.train()
            net(torch.from_numpy(norm))
            q.step()
            net.eval()
            return q, net(torch.from_numpy(norm))[:, 0].numpy()

    gamma = 0.5
    qs, sims = {}, {}
    for gm in (0.0, gamma):
        qs[gm], sims[gm] = simulate(gm)
    assert qs[0.0].record() == {} and qs[gamma].record() == {"balance_gamma": gamma}
    ranges = [list(r) for r in qs[gamma].ranges().values()]
    g, _ = int8.build_grdnet(path, str(tmp_path / "b.grdnet"), norm, MEAN, STD, None, None, ranges, balance_gamma=gamma)
    meta = _file_meta(tmp_path / "b.grdnet")
    file_alphas = [j["alpha"] for j in meta["skip_concat_balance"]["joins"]]
    sim_alphas = [j.alpha() for j in qs[gamma].joins.values()]
    assert qs[0.0].joins == {} and sim_alphas == pytest.approx(file_alphas, rel=1e-6)
    # the join's range: gamma 1 gives both halves the same width, so the union is wider than either
    q1, _ = simulate(1.0)
    g1, _ = int8.build_grdnet(path, str(tmp_path / "g1.grdnet"), norm, MEAN, STD, None, None,
                              [list(r) for r in q1.ranges().values()], balance_gamma=1.0)
    for q_, g_ in ((qs[gamma], g), (q1, g1)):
        skip_concats = [op for op in convert.ranged_ops(g_) if op.kind == ref.CONCAT][1:]   # [0]: concat(X^, X)
        for j, op in zip(q_.joins.values(), skip_concats, strict=True):
            s, zp = convert._qparams(*j.join_range(j.alpha()))
            assert g_.tensors[op.output].scale == pytest.approx(s, rel=1e-6) and g_.tensors[op.output].zp == zp
    g0, _ = int8.build_grdnet(path, str(tmp_path / "u.grdnet"), norm, MEAN, STD, None, None,
                              [list(r) for r in qs[0.0].ranges().values()], balance_gamma=0.0)
    heat = {gm: np.stack([ref.forward_int8(e, p)[1] for p in px]) for gm, e in ((gamma, g), (0.0, g0))}
    with torch.no_grad():
        plain = model.inference()(torch.from_numpy(norm))[:, 0].numpy()

    def err(a, b):
        return float(np.abs(a - b).mean())
    assert len(file_alphas) == len(TINY.unet_widths) - 1 and max(file_alphas) < 0.2
    # each simulation computes its own engine (measured 0.0025 both) better than the other one (0.0041)
    # or the float network (0.0051) does
    assert err(sims[gamma], heat[gamma]) < 0.7 * err(sims[0.0], heat[gamma])
    assert err(sims[gamma], heat[gamma]) < 0.6 * err(plain, heat[gamma])
    assert err(sims[0.0], heat[0.0]) < 0.7 * err(sims[gamma], heat[0.0])
    with pytest.raises(ValueError, match="gamma must be in"):
        QAT(GRDNet(TINY), balance_gamma=1.5)


def test_qat_fine_tune_saves_float_keys_and_resumes_exactly(tmp_path):
    """`train --init CK --qat`: checkpoints hold the float model's keys (export and evaluate load
    them unchanged) plus the learned ranges, the rounding is on after --qat-observe steps, the
    weights move, and stop + resume equals an uninterrupted fine-tune (ranges included)."""
    from test_determinism import _same, _weights
    from test_roundtrip import TINY as TINY_JSON, make_dataset
    from grdnet_train.__main__ import main

    root = tmp_path / "ds"
    make_dataset(root)
    common = ["--data", str(root), "--size", "32", "--crop", "32", "--batch", "2", "--val-every", "3",
              "--ckpt-every", "3", "--val-fraction", "0.3", "--widths", TINY_JSON, "--threads", "1",
              "--seed", "0", "--precision", "fp32"]
    assert main(["train", "--out", str(tmp_path / "base"), "--iters", "3", *common]) == 0
    base = str(tmp_path / "base" / "last.pt")

    def qat(out, *extra):
        return main(["train", "--out", str(tmp_path / out), "--iters", "6", "--init", base, "--warmup", "0",
                     "--qat", "--qat-observe", "2", *common, *extra])

    assert qat("a") == 0
    ck = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    plain = GRDNet(ModelConfig(**ck["config"]["model"]))
    plain.load_state_dict(ck["model"])          # strict: float keys only
    assert ck["qat"]["steps"] == 6 and all(lo < hi for lo, hi in ck["qat"]["ranges"].values())
    assert not _same(_weights(base), _weights(tmp_path / "a" / "last.pt"))
    assert qat("b", "--stop-after", "3") == 0
    assert qat("b", "--resume") == 0
    ckb = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    assert ckb["iter"] == 6 and ckb["qat"] == ck["qat"]
    assert _same(_weights(tmp_path / "a" / "last.pt"), _weights(tmp_path / "b" / "last.pt"))
    # --qat-balance-gamma: recorded in the checkpoint, so the export rescales the joins with it
    from grdnet_train.export import learned_balance_gamma
    assert "balance_gamma" not in ck["qat"] and learned_balance_gamma(ck) is None
    assert qat("c", "--qat-balance-gamma", "0.5") == 0
    ckc = torch.load(tmp_path / "c" / "last.pt", weights_only=False)
    assert ckc["qat"]["balance_gamma"] == 0.5 and learned_balance_gamma(ckc) == 0.5
    assert not _same(_weights(tmp_path / "a" / "last.pt"), _weights(tmp_path / "c" / "last.pt"))
    # the export rescales with the recorded gamma (not the converter's default 0.25) and the sidecar
    # carries it for `evaluate --int8`'s rebuild
    import json
    for run, want in (("a", 0.25), ("c", 0.5)):
        out = tmp_path / f"{run}-export"
        out.mkdir()
        assert main(["export", "--checkpoint", str(tmp_path / run / "last.pt"), "--out", str(out / "m.onnx"),
                     "--calibration", str(out / "cal.npy"), "--calibration-count", "2", "--threshold", "0.5",
                     "--grdnet", str(out / "m.grdnet")]) == 0
        side = json.loads((out / "m.json").read_text())
        assert side.get("skip_concat_balance_gamma") == (0.5 if run == "c" else None)
        meta = _file_meta(out / "m.grdnet")
        assert meta["skip_concat_balance"]["gamma"] == want
