"""The numpy reference and the file writer on their own (no Swift needed)."""
import struct
import zlib

import numpy as np
import pytest
import torch
from torch import nn

import convert
import grdnet_format
import grdnet_ref as ref
from conftest import export_module, calibration_pixels


def naive_conv_int8(x, qw, qb, zp_in, sy, sx, pads):
    """Loop-by-loop int8 convolution: an independent check of the vectorised reference."""
    h, w, c = x.shape
    o, kh, kw, _ = qw.shape
    t, l, b, r = pads
    oh, ow = (h + t + b - kh) // sy + 1, (w + l + r - kw) // sx + 1
    acc = np.zeros((oh, ow, o), np.int64)
    for oy in range(oh):
        for ox in range(ow):
            for co in range(o):
                s = int(qb[co])
                for ky in range(kh):
                    for kx in range(kw):
                        iy, ix = oy * sy - t + ky, ox * sx - l + kx
                        v = x[iy, ix].astype(np.int64) if 0 <= iy < h and 0 <= ix < w else np.full(c, zp_in, np.int64)
                        s += int(np.dot(v, qw[co, ky, kx].astype(np.int64)))
                acc[oy, ox, co] = s
    return acc


def small_graph(tmp_path, module, h=9, w=11, c=1):
    export_module(module, tmp_path / "m.onnx", h, w, c)
    g, data = convert.convert(str(tmp_path / "m.onnx"), str(tmp_path / "m.grdnet"), calibration_pixels(h, w, c), [0.5], [0.25])
    return g, data


@pytest.mark.parametrize("k,s,p", [(3, 1, 1), (4, 2, 1), (1, 1, 0), (3, 2, 1)])
def test_int8_conv_reference_matches_naive_loops(tmp_path, k, s, p):
    torch.manual_seed(k * 10 + s)
    g, _ = small_graph(tmp_path, nn.Sequential(nn.Conv2d(1, 5, k, s, p), nn.LeakyReLU(0.2)))
    op = g.ops[0]
    px = calibration_pixels(9, 11, seed=7)[0]
    x = ref.quantize_input(g, px)
    acc = naive_conv_int8(x, op.qw, op.qb, g.tensors[0].zp, op.sy, op.sx, op.pads)
    want = ref.requant(acc, op.qs, g.tensors[op.output].zp, op.slope)
    vals, _ = ref.forward_int8(g, px)
    assert np.array_equal(vals[op.output], want)


def test_quantisation_rules(tmp_path):
    torch.manual_seed(0)
    g, _ = small_graph(tmp_path, nn.Sequential(nn.Conv2d(1, 8, 3, 1, 1), nn.ReLU(), nn.Conv2d(8, 4, 3, 1, 1)))
    for op in g.ops:
        assert op.qw.min() >= -127 and op.qw.max() <= 127
        # per output channel the largest weight uses the full range
        assert np.all(np.abs(op.qw.reshape(op.qw.shape[0], -1)).max(1) == 127)
        tin = g.tensors[op.inputs[0]]
        # bias folding: qb = round(b / (s_in s_w)) - zp_in * sum(qw)
        sw = np.abs(op.w.reshape(op.w.shape[0], -1)).max(1) / 127.0
        raw = np.rint(op.b / (np.float32(tin.scale) * sw.astype(np.float32)))
        assert np.array_equal(op.qb, (raw - tin.zp * op.qw.reshape(op.qw.shape[0], -1).sum(1)).astype(np.int32))
    for t in g.tensors:
        assert -128 <= t.zp <= 127 and t.scale > 0


def test_int8_close_to_fp32(tmp_path):
    torch.manual_seed(1)
    from edge_net import GRDNetEdge
    export_module(GRDNetEdge(), tmp_path / "e.onnx", 32, 32)
    cal = calibration_pixels(32, 32, n=4, seed=3)
    g, _ = convert.convert(str(tmp_path / "e.onnx"), str(tmp_path / "e.grdnet"), cal, [0.5], [0.25])
    _, h8 = ref.forward_int8(g, cal[0])
    _, hf = ref.forward_fp32(g, ref.normalise(g, cal[0]))
    assert np.abs(h8 - hf).max() < 0.1


def test_score_is_max_of_box_mean_inside_roi():
    heat = np.zeros((40, 50), np.float32)
    heat[20, 25] = 1.0
    s = ref.score(heat, None)
    assert s == np.float32(65535 / (441 * 65535))
    roi = np.zeros((40, 50), np.uint8)
    roi[:5, :5] = 1  # far from the spot: the box mean there is 0
    assert ref.score(heat, roi) == 0
    heat[:] = 1.0
    assert ref.score(heat, None) == np.float32(1.0)  # interior windows are full


def test_file_sections_have_checksums(tmp_path):
    torch.manual_seed(2)
    _, data = small_graph(tmp_path, nn.Sequential(nn.Conv2d(1, 4, 3, 1, 1)))
    secs = grdnet_format.read_sections(data)
    assert set(secs) >= {grdnet_format.SEC_META, grdnet_format.SEC_GRAPH, grdnet_format.SEC_WEIGHTS, grdnet_format.SEC_GOLDEN}
    bad = bytearray(data)
    bad[-3] ^= 0x40
    with pytest.raises(AssertionError):
        grdnet_format.read_sections(bytes(bad))


def test_unsupported_operator_is_named(tmp_path):
    class M(nn.Module):
        def forward(self, x):
            return torch.tanh(x)
    export_module(M(), tmp_path / "t.onnx", 8, 8)
    with pytest.raises(convert.ConversionError, match="Tanh"):
        convert.convert(str(tmp_path / "t.onnx"), str(tmp_path / "t.grdnet"), calibration_pixels(8, 8), [0.5], [0.25])


def test_empty_calibration_set_is_an_error_naming_it(tmp_path, capsys):
    export_module(nn.Sequential(nn.Conv2d(1, 2, 3, 1, 1)), tmp_path / "m.onnx", 8, 8)
    np.save(tmp_path / "cal.npy", calibration_pixels(8, 8)[:0])
    args = [str(tmp_path / "m.onnx"), str(tmp_path / "m.grdnet"), "--calibration", str(tmp_path / "cal.npy"),
            "--mean", "0.5", "--std", "0.25"]
    assert convert.main(args) == 1
    assert "the calibration set holds no images" in capsys.readouterr().err
    assert not (tmp_path / "m.grdnet").exists()


def test_learned_ranges_replace_calibration_and_are_checked(tmp_path, capsys):
    """convert.py --ranges (quantisation-aware training): each ranged tensor takes its given range
    (calibration then only feeds the golden vectors); a wrong count or an empty range is an error
    naming the problem, not a silently different file."""
    import json
    torch.manual_seed(0)
    export_module(nn.Sequential(nn.Conv2d(1, 4, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 2, 3, 1, 1)),
                  tmp_path / "m.onnx", 8, 8)
    np.save(tmp_path / "cal.npy", calibration_pixels(8, 8))
    ranges = [[0.0, 3.0], [-2.0, 0.5]]     # the two convs; the max-pool inherits
    (tmp_path / "r.json").write_text(json.dumps(ranges))
    args = [str(tmp_path / "m.onnx"), str(tmp_path / "m.grdnet"), "--calibration", str(tmp_path / "cal.npy"),
            "--mean", "0.5", "--std", "0.25"]
    assert convert.main(args + ["--ranges", str(tmp_path / "r.json")]) == 0
    g = convert.import_onnx(str(tmp_path / "m.onnx"), None, None, [0.5], [0.25])
    convert.quantise(g, [], ranges)
    own = convert.ranged_ops(g)
    assert len(own) == 2
    for (lo, hi), op in zip(ranges, own):
        assert (g.tensors[op.output].scale, g.tensors[op.output].zp) == convert._qparams(lo, hi)
    pool = next(op for op in g.ops if op.kind == ref.MAXPOOL)
    assert g.tensors[pool.output].scale == g.tensors[pool.inputs[0]].scale
    meta = json.loads(grdnet_format.read_sections((tmp_path / "m.grdnet").read_bytes())[1])
    assert meta["calibration"]["method"] == "per tensor: ranges learned by quantisation-aware training"
    (tmp_path / "r.json").write_text(json.dumps(ranges[:1]))
    assert convert.main(args + ["--ranges", str(tmp_path / "r.json")]) == 1
    assert "1 learned activation ranges given, the graph quantises 2 tensors" in capsys.readouterr().err
    (tmp_path / "r.json").write_text(json.dumps([[0.0, 3.0], [0.5, 0.5]]))
    assert convert.main(args + ["--ranges", str(tmp_path / "r.json")]) == 1
    assert "not a finite lo < hi" in capsys.readouterr().err


class SkipJoin(nn.Module):
    """A U-Net join as in GRD-Net-Edge: up-convolution (no activation) and a narrow skip concatenated
    into one conv. The up path is made ~100x wider than the skip (as in session 12's shipped file),
    and the join's weights on it ~200x smaller, so both halves matter to the output."""
    def __init__(self):
        super().__init__()
        self.skip = nn.Sequential(nn.Conv2d(1, 4, 3, 1, 1), nn.ReLU())
        self.down = nn.Sequential(nn.Conv2d(4, 6, 3, 2, 1), nn.ReLU())
        self.up = nn.ConvTranspose2d(6, 4, 2, 2)
        self.join = nn.Conv2d(8, 3, 3, 1, 1)
        with torch.no_grad():
            self.up.weight *= 200
            self.up.bias *= 200
            self.join.weight[:, :4] /= 200

    def forward(self, x):
        s = self.skip(x)
        return self.join(torch.cat([self.up(self.down(s)), s], 1))


def _join_graphs(tmp_path, gammas, ranges=None):
    torch.manual_seed(3)
    export_module(SkipJoin(), tmp_path / "j.onnx", 16, 16)
    cal = calibration_pixels(16, 16, n=4, seed=5)
    return {gm: convert.convert(str(tmp_path / "j.onnx"), str(tmp_path / f"j{gm}.grdnet"), cal, [0.5], [0.25],
                                ranges=ranges, balance_gamma=gm) for gm in gammas}, cal


def test_skip_join_balance_keeps_fp32_and_cuts_int8_error(tmp_path):
    """balance_skip_concats: the fp32 function is unchanged, the rescale is the documented alpha,
    and the int8 output is closer to fp32 than with one range dominated by the up path."""
    import json
    graphs, cal = _join_graphs(tmp_path, [0.0, 0.5, 1.0])
    plain = convert.import_onnx(str(tmp_path / "j.onnx"), None, None, [0.5], [0.25])
    g0 = graphs[0.0][0]
    for a, b in zip(plain.ops, g0.ops):   # gamma 0: the imported weights, untouched
        assert (a.w is None and b.w is None) or np.array_equal(a.w, b.w)
    err = {}
    for gm, (g, data) in graphs.items():
        e = []
        for px in cal:
            vals, _ = ref.forward_int8(g, px)
            fvals, _ = ref.forward_fp32(g, ref.normalise(g, px))
            f0, _ = ref.forward_fp32(g0, ref.normalise(g0, px))
            t = g.tensors[g.output_tensor]
            assert np.allclose(fvals[g.output_tensor], f0[g.output_tensor], rtol=1e-4, atol=1e-4)
            e.append(np.abs((vals[g.output_tensor].astype(np.float64) - t.zp) * t.scale - fvals[g.output_tensor]).mean())
        err[gm] = float(np.mean(e))
        meta = json.loads(grdnet_format.read_sections(data)[grdnet_format.SEC_META])
        if gm == 0:
            assert "skip_concat_balance" not in meta
            continue
        joins = meta["skip_concat_balance"]["joins"]
        assert meta["skip_concat_balance"]["gamma"] == gm and len(joins) == 1
        (ulo, uhi), (slo, shi) = joins[0]["up_range"], joins[0]["skip_range"]
        assert (uhi - ulo) > 20 * (shi - slo)   # the test's premise: the up path is far wider
        assert joins[0]["alpha"] == pytest.approx(((shi - slo) / (uhi - ulo)) ** gm)
    assert err[0.5] < 0.5 * err[0.0], err
    assert err[1.0] < 0.5 * err[0.0], err


def test_skip_join_balance_rescales_learned_ranges(tmp_path):
    """With learned ranges the up-convolution's range is scaled by alpha and the join's range is the
    union of its two inputs' ranges; the other ranges are kept."""
    export_module(SkipJoin(), tmp_path / "k.onnx", 16, 16)
    g_plain = convert.import_onnx(str(tmp_path / "k.onnx"), None, None, [0.5], [0.25])
    kinds = [op.kind for op in convert.ranged_ops(g_plain)]
    assert kinds == [ref.CONV, ref.CONV, ref.CONV_T, ref.CONCAT, ref.CONV]
    ranges = [[0.0, 1.0], [0.0, 4.0], [-60.0, 40.0], [-60.0, 40.0], [-3.0, 3.0]]
    out, joins = convert.balance_skip_concats(g_plain, ranges, [], 0.5)
    alpha = (1.0 / 100.0) ** 0.5
    assert joins[0]["alpha"] == pytest.approx(alpha)
    assert out[2] == pytest.approx([-60.0 * alpha, 40.0 * alpha])
    assert out[3] == pytest.approx([-60.0 * alpha, 40.0 * alpha])   # wider than the skip's [0, 1]
    assert out[:2] == ranges[:2] and out[4] == ranges[4]
    assert ranges[2] == [-60.0, 40.0]   # the caller's list is not modified
    with pytest.raises(convert.ConversionError, match=r"gamma must be in \[0, 1\]"):
        convert.balance_skip_concats(g_plain, ranges, [], 1.5)
    dead = [[0.0, 0.0], [0.0, 4.0], [-60.0, 40.0], [-60.0, 40.0], [-3.0, 3.0]]   # a skip that is always 0
    w_before = [op.w.copy() for op in g_plain.ops if op.w is not None]
    out, joins = convert.balance_skip_concats(g_plain, dead, [], 0.5)
    assert joins == [] and out == dead
    assert all(np.array_equal(a, op.w) for a, op in zip(w_before, [op for op in g_plain.ops if op.w is not None]))
