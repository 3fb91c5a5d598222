"""The Swift engine against the numpy reference (bit for bit, int8) and against ONNX Runtime and
PyTorch (fp32, 1e-4), through the grdnet CLI: `grdnet model selftest` runs the golden vectors the
converter computed with grdnet_ref.py; `grdnet model infer` dumps tensors."""
import numpy as np
from PIL import Image
import onnxruntime as ort
import pytest
import torch
from torch import nn

import convert
import grdnet_ref as ref
from conftest import export_module, calibration_pixels, run_cli
from edge_net import GRDNetEdge

FAMILIES = ["scalar", "a72-c16-halves", "a76-sdot-igemm", "a76-dotloop", "x86-avx2-igemm", "x86-avxvnni-igemm"]


def selftest(binary, *args):
    """Runs `grdnet model selftest`; a kernel family this CPU cannot run counts as passed
    (it is refused with a clear message, checked here)."""
    r = run_cli(binary, "model", "selftest", *args)
    if r.returncode != 0 and "is not supported on this CPU" in r.stderr:
        print(f"skipped on this CPU: {args}")
        return 0, r.stderr
    return r.returncode, r.stderr


class Two(nn.Module):
    """Two branches from the input so that Add / Concat get differently quantised operands."""
    def __init__(self, kind):
        super().__init__()
        self.kind = kind
        self.a = nn.Sequential(nn.Conv2d(1, 8, 3, 1, 1), nn.LeakyReLU(0.2))
        self.b = nn.Conv2d(1, 8, 1)

    def forward(self, x):
        a, b = self.a(x), self.b(x)
        return torch.relu(a + b) if self.kind == "add" else torch.cat([a, b], 1)


OPS = {
    "conv3x3s1p1": lambda: nn.Sequential(nn.Conv2d(1, 24, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(24, 20, 3, 1, 1)),
    "conv4x4s2p1": lambda: nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1), nn.ReLU(), nn.Conv2d(16, 33, 4, 2, 1)),
    "conv1x1": lambda: nn.Sequential(nn.Conv2d(1, 32, 3, 1, 1), nn.ReLU(), nn.Conv2d(32, 7, 1)),
    "conv3x3s2p0": lambda: nn.Sequential(nn.Conv2d(1, 9, 3, 2, 0)),
    "convtranspose_k4s2p1": lambda: nn.Sequential(nn.Conv2d(1, 6, 3, 1, 1), nn.ConvTranspose2d(6, 5, 4, 2, 1), nn.LeakyReLU(0.2)),
    "convtranspose_k2s2": lambda: nn.Sequential(nn.ConvTranspose2d(1, 4, 2, 2)),
    "add": lambda: Two("add"),
    "concat": lambda: Two("concat"),
    "maxpool": lambda: nn.Sequential(nn.Conv2d(1, 8, 3, 1, 1), nn.MaxPool2d(2)),
    "avgpool": lambda: nn.Sequential(nn.Conv2d(1, 8, 3, 1, 1), nn.AvgPool2d(2)),
    "resize": lambda: nn.Sequential(nn.Conv2d(1, 8, 3, 1, 1), nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(8, 8, 3, 1, 1)),
}


def build(tmp_path, module, h, w, c=1, name="m", roi=None, seed=0, score_stats=None):
    export_module(module, tmp_path / f"{name}.onnx", h, w, c)
    g, data = convert.convert(str(tmp_path / f"{name}.onnx"), str(tmp_path / f"{name}.grdnet"),
                              calibration_pixels(h, w, c, seed=seed), [0.45], [0.22], roi=roi, threshold=0.5,
                              score_stats=score_stats)
    return g, str(tmp_path / f"{name}.grdnet")


@pytest.mark.parametrize("op", sorted(OPS))
def test_each_op_bit_exact(tmp_path, grdnet_bin, op):
    torch.manual_seed(hash(op) % 1000)
    g, path = build(tmp_path, OPS[op](), 10, 14)
    for fam in FAMILIES:
        for threads in ("1", "2"):
            rc, err = selftest(grdnet_bin, "--model", path, "--kernels", fam, "--threads", threads)
            assert rc == 0, f"{op} {fam} x{threads}: {err}"


@pytest.mark.parametrize("variant", ["sigmoid", "softmax", "transposed"])
def test_whole_graph_bit_exact_and_score(tmp_path, grdnet_bin, variant):
    torch.manual_seed(5)
    net = GRDNetEdge(softmax=variant == "softmax", transposed=variant == "transposed")
    roi = np.zeros((48, 48), np.uint8)
    roi[4:44, 8:40] = 1
    g, path = build(tmp_path, net, 48, 48, roi=roi)
    for fam in FAMILIES:
        rc, err = selftest(grdnet_bin, "--model", path, "--kernels", fam, "--threads", "2")
        assert rc == 0, f"{variant} {fam}: {err}"
    # the score the CLI prints equals the reference's
    px = calibration_pixels(48, 48, seed=9)[0]
    (tmp_path / "in.raw").write_bytes(px.tobytes())
    r = run_cli(grdnet_bin, "model", "infer", "--model", path, "--input", str(tmp_path / "in.raw"),
                "--dump-output", str(tmp_path / "out.bin"))
    assert r.returncode == 0, r.stderr
    vals, heat = ref.forward_int8(g, px)
    assert np.array_equal(np.fromfile(tmp_path / "out.bin", np.int8), vals[g.output_tensor].ravel())
    assert len(np.unique(vals[g.output_tensor])) > 5  # not a saturated, trivial output
    assert float(r.stdout.split()[1]) == pytest.approx(float(ref.score(heat, g.roi)), rel=1e-7)


@pytest.mark.parametrize("box", [1, 5])
def test_standardised_score_with_score_statistics(tmp_path, grdnet_bin, box):
    """Section 6: the engine's standardised score (box mean - mean) / (std + floor), max in the
    ROI, equals the reference's bit for bit (golden vectors, int8 and fp32) and as printed."""
    torch.manual_seed(7)
    rng = np.random.default_rng(box)
    h, w = 48, 48
    roi = np.zeros((h, w), np.uint8)
    roi[2:46, 6:42] = 1
    stats = ref.ScoreStats(box=box, floor=0.01, mean=rng.uniform(0, 0.6, (h, w)).astype(np.float32),
                           std=rng.uniform(0.1, 0.2, (h, w)).astype(np.float32))
    # just outside the ROI: never-varying pixels (the floor alone divides) with mean 0, so their
    # z (box 5 sees the map inside) is far above anything inside, where z <= 1 / 0.11
    stats.mean[:, 4:6] = 0; stats.std[:, 4:6] = 0
    g, path = build(tmp_path, GRDNetEdge(), h, w, roi=roi, score_stats=stats)
    for fam in ("scalar", "x86-avxvnni-igemm", "a76-sdot-igemm"):
        rc, err = selftest(grdnet_bin, "--model", path, "--kernels", fam, "--threads", "2")
        assert rc == 0, f"box {box} {fam}: {err}"
    rc, err = selftest(grdnet_bin, "--model", path, "--precision", "fp32")
    assert rc == 0, err
    px = calibration_pixels(h, w, seed=11)[0]
    (tmp_path / "in.raw").write_bytes(px.tobytes())
    r = run_cli(grdnet_bin, "model", "infer", "--model", path, "--input", str(tmp_path / "in.raw"))
    assert r.returncode == 0, r.stderr
    _, heat = ref.forward_int8(g, px)
    want = ref.score(heat, g.roi, stats)
    assert float(r.stdout.split()[1]) == pytest.approx(float(want), rel=1e-7)
    # not the plain rule: the standardised score differs from it and can be far above 1
    assert abs(float(want) - float(ref.score(heat, g.roi))) > 1e-3
    # outside the ROI nothing counts (with box 5 the planted columns next to it see the map)
    z = ref.standardised_box_map(heat, g.roi, stats)
    assert float(want) == pytest.approx(float(z[roi != 0].max()), rel=1e-7)
    if box > 1:
        assert float(want) < 9.1 < z[:, 4:6].max()


def test_selftest_detects_a_wrong_golden_vector(tmp_path, grdnet_bin):
    torch.manual_seed(3)
    g, path = build(tmp_path, OPS["conv3x3s1p1"](), 10, 14)
    data = bytearray(open(path, "rb").read())
    # rebuild with one expected output value changed (valid CRCs: written by the writer)
    import grdnet_format
    gold = convert.golden_vectors(g, [calibration_pixels(10, 14, seed=4)[0]])
    px, out, s, fs = gold[0]
    out = out.copy()
    out[5] = np.int8(int(out[5]) + 1 if out[5] < 127 else 126)
    grdnet_format.write_model(path, g, {"test": True}, [(px, out, s, fs)])
    r = run_cli(grdnet_bin, "model", "selftest", "--model", path)
    assert r.returncode == 1 and "element 5" in r.stderr, r.stderr


def test_fp32_matches_onnxruntime_and_pytorch(tmp_path, grdnet_bin):
    torch.manual_seed(11)
    net = GRDNetEdge()
    g, path = build(tmp_path, net, 64, 64)
    px = calibration_pixels(64, 64, seed=12)[0]
    (tmp_path / "in.raw").write_bytes(px.tobytes())
    r = run_cli(grdnet_bin, "model", "infer", "--model", path, "--input", str(tmp_path / "in.raw"),
                "--precision", "fp32", "--threads", "2", "--dump-heatmap", str(tmp_path / "heat.bin"))
    assert r.returncode == 0, r.stderr
    heat = np.fromfile(tmp_path / "heat.bin", np.float32).reshape(64, 64)
    x = ref.normalise(g, px).transpose(2, 0, 1)[None].astype(np.float32)
    ort_out = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"image": x})[0][0, 0]
    with torch.no_grad():
        pt_out = net(torch.from_numpy(x))[0, 0].numpy()
    assert np.abs(heat - ort_out).max() <= 1e-4
    assert np.abs(heat - pt_out).max() <= 1e-4
    assert heat.std() > 1e-3  # a real map, not a constant


def test_rejects_corrupt_files_with_named_problem(tmp_path, grdnet_bin):
    torch.manual_seed(4)
    g, path = build(tmp_path, OPS["conv1x1"](), 10, 14)
    data = open(path, "rb").read()
    cases = {
        "trunc": (data[:len(data) // 2], "bytes"),
        "magic": (b"XXXXXXXX" + data[8:], "not a .grdnet model"),
        "crc": (data[:-1] + bytes([data[-1] ^ 1]), "checksum mismatch"),
    }
    for name, (blob, words) in cases.items():
        p = tmp_path / f"{name}.grdnet"
        p.write_bytes(blob)
        r = run_cli(grdnet_bin, "model", "info", "--model", str(p))
        assert r.returncode != 0 and words in r.stderr and str(p) in r.stderr, (name, r.stderr)


def test_score_stats_tool_learns_what_the_reference_computes(tmp_path, grdnet_bin):
    """`grdnet model score-stats` end to end: it learns the per-pixel statistics of the engine's
    own maps (equal to the numpy reference's for model-sized grey PNGs, which the preprocessor
    passes through), sets the threshold to the highest held-out score, re-scores the golden
    vectors (selftest passes) and refuses overlapping or too few images with a clear message."""
    from PIL import Image
    torch.manual_seed(2)
    h, w = 32, 40
    g, path = build(tmp_path, GRDNetEdge(), h, w)
    rng = np.random.default_rng(8)
    base = rng.integers(60, 200, (h, w), dtype=np.uint8)
    learn, held = tmp_path / "learn", tmp_path / "held"
    learn.mkdir(); held.mkdir()
    images = {}
    for i in range(26):
        px = np.clip(base.astype(int) + rng.integers(-25, 26, (h, w)), 0, 255).astype(np.uint8)
        p = (learn if i < 20 else held) / f"g{i:02d}.png"
        Image.fromarray(px, "L").save(p)
        images[p.name] = px
    out = tmp_path / "z.grdnet"
    r = run_cli(grdnet_bin, "model", "score-stats", "--model", path, "--good", str(learn),
                "--threshold-from", str(held), "--output", str(out), "--box", "3", "--floor", "0.02")
    assert r.returncode == 0, r.stderr
    assert "20 good images, box 3x3" in r.stdout and "6 held-out good images" in r.stdout, r.stdout
    # reference statistics from the reference's own int8 maps
    sums = []
    for name in sorted(images)[:20]:
        _, heat = ref.forward_int8(g, images[name][..., None])
        box, _ = ref.box_sums(heat, None, 3)
        sums.append(box.astype(np.float64) / (9 * 65535.0))
    sums = np.stack(sums)
    mean, std = sums.mean(0), sums.std(0)
    import grdnet_format
    data = open(out, "rb").read()
    sec = grdnet_format.read_sections(data)[grdnet_format.SEC_SCORE_STATS]
    import struct
    hh, ww, box, floor = struct.unpack_from("<IIIf", sec)
    assert (hh, ww, box) == (h, w, 3) and floor == np.float32(0.02)
    got_mean = np.frombuffer(sec[16:16 + 4 * h * w], "<f4").reshape(h, w)
    got_std = np.frombuffer(sec[16 + 4 * h * w:], "<f4").reshape(h, w)
    assert np.allclose(got_mean, mean, atol=1e-6) and np.allclose(got_std, std, atol=1e-5)
    assert std.max() > 1e-3  # the images differ, so the statistics are not trivial
    stats = ref.ScoreStats(box=3, floor=0.02, mean=got_mean, std=got_std)
    held_scores = [ref.score(ref.forward_int8(g, images[n][..., None])[1], None, stats) for n in sorted(images)[20:]]
    info = run_cli(grdnet_bin, "model", "info", "--model", str(out))
    import re
    shown = float(re.search(r"default threshold: (\S+),", info.stdout).group(1))
    assert shown == pytest.approx(float(max(held_scores)), rel=1e-5), (info.stdout, max(held_scores))
    assert '"score_statistics"' in info.stdout
    for prec in ("int8", "fp32"):
        rc, err = selftest(grdnet_bin, "--model", str(out), "--precision", prec)
        assert rc == 0, err
    # refusals
    r = run_cli(grdnet_bin, "model", "score-stats", "--model", path, "--good", str(learn),
                "--threshold-from", str(learn), "--output", str(tmp_path / "x.grdnet"))
    assert r.returncode != 0 and "in both --good and --threshold-from" in r.stderr, r.stderr
    r = run_cli(grdnet_bin, "model", "score-stats", "--model", path, "--good", str(held),
                "--threshold-from", str(learn), "--output", str(tmp_path / "x.grdnet"))
    assert r.returncode != 0 and "at least 20 are needed" in r.stderr, r.stderr
    r = run_cli(grdnet_bin, "model", "score-stats", "--model", path, "--good", str(learn),
                "--threshold-from", str(held), "--output", str(tmp_path / "x.grdnet"), "--box", "4")
    assert r.returncode != 0 and "--box 4 must be odd" in r.stderr, r.stderr
    assert not (tmp_path / "x.grdnet").exists()


def test_letterbox_frame_fit_section_is_written_kept_and_shown(tmp_path, grdnet_bin):
    """A letterbox-trained model's file says so (FORMAT.md section 7); the engine reads it, and
    `grdnet model score-stats` (which rewrites the file) keeps it."""
    import grdnet_format
    h, w = 24, 24
    export_module(GRDNetEdge(), tmp_path / "lb.onnx", h, w, 1)
    g, raw = convert.convert(str(tmp_path / "lb.onnx"), str(tmp_path / "lb.grdnet"), calibration_pixels(h, w, 1),
                             [0.45], [0.22], threshold=0.5, letterbox_pad=[109])
    sec = grdnet_format.read_sections(raw)[grdnet_format.SEC_FRAME_FIT]
    assert sec == b"\x01\x00\x00\x00\x01\x00\x00\x00\x6d"
    info = run_cli(grdnet_bin, "model", "info", "--model", str(tmp_path / "lb.grdnet"))
    assert info.returncode == 0 and "frames: letterboxed (aspect ratio kept, padding 109 outside the ROI)" in info.stdout, info.stdout
    assert '"fit": "letterbox"' in info.stdout
    learn, held = tmp_path / "learn", tmp_path / "held"
    learn.mkdir(); held.mkdir()
    rng = np.random.default_rng(2)
    for i in range(24):   # tall parts: each lands on the middle columns
        Image.fromarray(rng.integers(60, 200, (30, 12), dtype=np.uint8), "L").save((learn if i < 20 else held) / f"g{i:02d}.png")
    out = tmp_path / "lb-stats.grdnet"
    r = run_cli(grdnet_bin, "model", "score-stats", "--model", str(tmp_path / "lb.grdnet"), "--good", str(learn),
                "--threshold-from", str(held), "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert grdnet_format.read_sections(open(out, "rb").read())[grdnet_format.SEC_FRAME_FIT] == sec
    assert "frames: letterboxed" in run_cli(grdnet_bin, "model", "info", "--model", str(out)).stdout
    squash = run_cli(grdnet_bin, "model", "info", "--model", build(tmp_path, GRDNetEdge(), h, w, name="sq")[1])
    assert "frames: squashed to 24x24" in squash.stdout
    try:
        convert.convert(str(tmp_path / "lb.onnx"), str(tmp_path / "bad.grdnet"), calibration_pixels(h, w, 1),
                        [0.45], [0.22], letterbox_pad=[300])
        raise AssertionError("accepted a padding value of 300")
    except ValueError as e:
        assert "letterbox padding [300] needs 1 values in 0..255" in str(e)
