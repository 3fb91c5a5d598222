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


def test_letterbox_box_is_the_placement_the_box_uses():
    # the same figures as LetterboxTests.testPlacementMatchesTheTrainingFormula (Swift)
    assert data.letterbox_box(103, 388, 256) == (94, 0, 68, 256)
    assert data.letterbox_box(617, 222, 256) == (0, 82, 256, 92)
    assert data.letterbox_box(300, 300, 256) == (0, 0, 256, 256)
    assert data.letterbox_box(68, 256, 256) == (94, 0, 68, 256)   # a placed part lands on itself
    assert data.letterbox_box(1, 1000, 8) == (3, 0, 1, 8)


def test_load_image_mask_and_roi_letterboxed(tmp_path):
    p = tmp_path / "part.png"
    Image.fromarray(np.full((40, 20), 200, np.uint8)).save(p)          # 20 wide, 40 high
    m = tmp_path / "part_mask.png"
    Image.fromarray(np.r_[np.full((20, 20), 255), np.zeros((20, 20))].astype(np.uint8)).save(m)
    x0, y0, cw, ch = data.letterbox_box(20, 40, 16)
    assert (x0, y0, cw, ch) == (4, 0, 8, 16)
    a = data.load_image(str(p), 16, 1, "letterbox", [7])[..., 0]
    assert (a[:, 4:12] == 200).all() and (a[:, :4] == 7).all() and (a[:, 12:] == 7).all()
    assert (data.load_image(str(p), 16, 1)[..., 0] == 200).all()      # squash: all of it
    c = data.content_mask(str(p), 16, "letterbox")
    assert c.sum() == 8 * 16 and (c[:, 4:12] == 1).all()
    gt = data.load_mask(str(m), 16, "letterbox", (20, 40))
    assert (gt[:8, 4:12] == 1).all() and gt.sum() == 8 * 8
    # per-image ROI folder: the mask placed like its image, padding outside
    roi = data.ROISource(str(tmp_path), 16, "letterbox")
    assert np.array_equal(roi.for_image(str(p)), data.load_mask(str(p), 16, "letterbox", (20, 40)) * c)
    assert np.array_equal(data.ROISource(None, 16, "letterbox").for_image(str(p)), c)
    try:
        data.load_image(str(p), 16, 1, "crop")
        raise AssertionError("accepted an unknown fit")
    except ValueError as e:
        assert "fit 'crop' is not one of squash, letterbox" in str(e)


def test_synthesize_draws_on_the_part_only_and_keeps_squash_unchanged():
    size = 64
    img = np.full((size, size, 1), 0.43, np.float32)
    img[:, 20:44] = np.random.default_rng(0).random((size, 24, 1), dtype=np.float32)
    content = np.zeros((size, size), np.float32); content[:, 20:44] = 1
    for kind in (dict(break_prob=1.0), dict(pit_prob=1.0), dict()):
        synth = data.DefectSynthesizer(data.SynthConfig(**kind), [])
        for seed in range(5):
            xn, m = data.synthesize(synth, img, content, np.random.default_rng(seed), content, force_defect=True)
            assert m.sum() > 0 and m[content == 0].sum() == 0, kind
            assert np.array_equal(xn[content == 0], img[content == 0]), kind
            if kind.get("break_prob"):   # a break starts at the part's edge, not the frame's
                edges = m[0, 20:44].sum() + m[-1, 20:44].sum() + m[:, 20].sum() + m[:, 43].sum()
                assert edges > 0
    # without content it is the synthesizer itself, draw for draw
    synth = data.DefectSynthesizer(data.SynthConfig(break_prob=0.3), [])
    ones = np.ones((size, size), np.float32)
    a = data.synthesize(synth, img, ones, np.random.default_rng(3))
    b = synth(img, ones, np.random.default_rng(3))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    # a crop holding only padding gets nothing drawn
    xn, m = data.synthesize(synth, img, ones, np.random.default_rng(3), np.zeros((size, size)), force_defect=True)
    assert m.sum() == 0 and np.array_equal(xn, img)


def test_channel_stats_over_the_parts_only():
    imgs = np.zeros((2, 4, 4, 1), np.uint8); imgs[:, :, 1:3] = 102   # parts 0.4 grey, padding 0
    content = np.zeros((2, 4, 4), np.float32); content[:, :, 1:3] = 1
    mean, std = data.channel_stats(imgs, content)
    assert abs(mean[0] - 0.4) < 1e-6 and abs(std[0] - 1e-3) < 1e-9
    assert data.pad_pixels(mean) == [102]
    assert data.channel_stats(imgs)[0][0] < 0.3    # all pixels: the padding drags it down
