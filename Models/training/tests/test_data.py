import struct

import numpy as np
from PIL import Image

from grdnet_train import data, textures


def test_split_deterministic_disjoint_and_stable():
    files = [f"/x/img_{i:04d}.png" for i in range(500)]
    tr, va = data.split_train_val(files, 0.1)
    assert set(tr).isdisjoint(va) and len(tr) + len(va) == 500
    assert 25 < len(va) < 80
    tr2, va2 = data.split_train_val(files[::-1][:400], 0.1)
    assert set(va2) == set(va) & set(files[::-1][:400])  # membership depends on the name only


def test_pat_parser_roundtrip(tmp_path):
    w, h = 5, 3
    px = np.arange(w * h * 3, dtype=np.uint8).reshape(h, w, 3)
    name = b"test\0"
    hdr = struct.pack(">5I", 24 + len(name), 1, w, h, 3) + b"GPAT" + name
    p = tmp_path / "t.pat"
    p.write_bytes(hdr + px.tobytes())
    assert np.array_equal(textures.read_pat(str(p)), px)
    bad = tmp_path / "bad.pat"
    bad.write_bytes(hdr.replace(b"GPAT", b"XXXX") + px.tobytes())
    try:
        textures.read_pat(str(bad))
        raise AssertionError("accepted a file without the GPAT magic")
    except ValueError as e:
        assert "bad.pat" in str(e)


def test_synthetic_defect_blend_rules():
    rng = np.random.default_rng(0)
    synth = data.DefectSynthesizer(data.SynthConfig(), [np.full((80, 80, 3), 200, np.uint8)])
    img = np.full((64, 64, 1), 0.5, np.float32)
    roi = np.ones((64, 64), np.float32)
    roi[:, :32] = 0
    clean = 0
    for _ in range(200):
        xn, m = synth(img, roi, rng)
        if m.sum() == 0 and np.array_equal(xn, img):
            clean += 1
            continue
        assert m[:, :32].sum() == 0  # target cut to the ROI
        assert xn.shape == img.shape
        assert xn.min() >= 0 and xn.max() <= 1
    assert 25 <= clean <= 80  # about 25% clean
    xn, m = synth(img, np.ones((64, 64), np.float32), rng, force_defect=True)
    assert m.sum() >= 16
    outside = m == 0
    assert np.allclose(xn[..., 0][outside], 0.5)  # untouched outside the Perlin mask


def test_gimp_textures():
    # Tests/run installs Debian's gimp-data, the texture source of the synthetic defects.
    t = textures.load_textures()
    assert t, "no .pat textures: apt-get install gimp-data"
    assert all(a.dtype == np.uint8 and a.shape[2] in (1, 3) for a in t)
    f = textures.texture_fill(t, 50, 70, 1, np.random.default_rng(0))
    assert f.shape == (50, 70, 1) and 0 <= f.min() and f.max() <= 1


def test_roi_sources(tmp_path):
    m = np.zeros((20, 20), np.uint8)
    m[5:15, 5:15] = 255
    Image.fromarray(m).save(tmp_path / "roi.png")
    single = data.ROISource(str(tmp_path / "roi.png"), 10)
    r = single.for_image("/any/img.png")
    assert r.shape == (10, 10) and 0 < r.sum() < 100
    d = tmp_path / "rois"
    d.mkdir()
    Image.fromarray(m).save(d / "a.png")
    per = data.ROISource(str(d), 10)
    assert per.for_image("/x/a.jpg").sum() == r.sum()
    assert per.for_image("/x/b.jpg").sum() == 100


def test_break_defects_touch_the_border_and_fill_the_mask():
    rng = np.random.default_rng(0)
    for _ in range(20):
        m = data.break_mask(64, 64, rng)
        assert m.shape == (64, 64) and set(np.unique(m)) <= {0.0, 1.0}
        assert 0 < m.sum() < 0.8 * m.size
        border = np.concatenate([m[0], m[-1], m[:, 0], m[:, -1]])
        assert border.sum() > 0  # a missing piece is always at the edge of the frame
    synth = data.DefectSynthesizer(data.SynthConfig(break_prob=1.0), [])
    img = np.full((64, 64, 1), 0.6, np.float32)
    xn, mask = synth(img, np.ones((64, 64), np.float32), rng, force_defect=True)
    assert mask.sum() > 0
    assert np.allclose(xn[mask == 0], 0.6)          # untouched outside the mask
    assert not np.allclose(xn[mask > 0], 0.6)       # replaced inside it


def test_photometric_jitter_bounds_and_off_keeps_the_random_stream():
    # a flat 0.5 part: every output lies in the band the gamma/gain ranges allow, both ends reached
    p = 0.2
    rng = np.random.default_rng(3)
    outs = np.array([float(data.photometric_jitter(np.full((4, 4, 1), 0.5, np.float32), p, rng)[0, 0, 0])
                     for _ in range(400)])
    lo, hi = 0.5 ** np.exp(p) * (1 - p), 0.5 ** np.exp(-p) * (1 + p)
    assert outs.min() >= lo - 1e-6 and outs.max() <= hi + 1e-6
    assert outs.min() < lo + 0.03 and outs.max() > hi - 0.03   # the whole range is used
    bright = data.photometric_jitter(np.ones((4, 4, 1), np.float32), p, np.random.default_rng(0))
    assert bright.dtype == np.float32 and bright.max() <= 1.0   # clipped, never above white

    # the sampler: off (the default) draws exactly what it drew before the option existed
    imgs = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 1)).astype(np.uint8)
    rois = np.ones((3, 16, 16), np.float32)
    ident = lambda img, roi, rng: (img, np.zeros(img.shape[:2], np.float32))
    a = data.TrainSampler(imgs, rois, 16, ident, [0.4], [0.2], 7).sample(6)
    b = data.TrainSampler(imgs, rois, 16, ident, [0.4], [0.2], 7, photometric=0.0).sample(6)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    c = data.TrainSampler(imgs, rois, 16, ident, [0.4], [0.2], 7, photometric=p).sample(6)
    assert not np.array_equal(a[0], c[0])
    # the jitter keeps each part's ordering of pixels (a monotone map): no texture is invented
    x, xc = a[0][0, 0].ravel(), c[0][0, 0].ravel()
    order = np.argsort(x, kind="stable")
    assert np.all(np.diff(xc[order]) >= -1e-6)
