"""The session-4 defect generators: pits (blowholes), cracks, small chips, faint Perlin blends."""
import numpy as np

from grdnet_train import data


def _thickness(mask: np.ndarray) -> int:
    """Largest number of mask pixels in a row or a column that a 3x3 erosion keeps (0 = nothing
    survives an erosion: the shape is at most 2 px thick everywhere)."""
    m = mask > 0
    core = m.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            core &= np.roll(np.roll(m, dy, 0), dx, 1)
    return int(core.sum())


def test_pit_small_nonempty_and_deterministic():
    for seed in range(20):
        shade, m = data.pit_shading(256, 256, np.random.default_rng(seed))
        assert shade.shape == m.shape == (256, 256)
        assert set(np.unique(m)) <= {0.0, 1.0}
        assert m.sum() >= 1, "a pit mask must not be empty"
        ys, xs = np.nonzero(m)
        # one pit or a cluster: each pit <= 8 px (x 1.33 ellipse), the cluster within ~4 spreads
        assert m.sum() <= 6 * np.pi * (4 * 1.33) ** 2 + 6
        assert 0 <= shade.min() and shade.max() <= 1 and shade[m > 0].min() > 0.1
        s2, m2 = data.pit_shading(256, 256, np.random.default_rng(seed))
        assert np.array_equal(m, m2) and np.array_equal(shade, s2)


def test_crack_thin_nonempty_and_deterministic():
    for seed in range(20):
        shade, m = data.crack_shading(256, 256, np.random.default_rng(seed))
        assert m.shape == (256, 256) and m.sum() >= 10, m.sum()
        # a 3x3 erosion removes nearly all of a 1-3 px wide line (a disc of the same area keeps most)
        assert _thickness(m) <= 0.25 * m.sum(), "a crack must be a thin line, not a blob"
        ys, xs = np.nonzero(m)
        assert max(np.ptp(ys), np.ptp(xs)) >= 8, "a crack must be elongated"
        s2, m2 = data.crack_shading(256, 256, np.random.default_rng(seed))
        assert np.array_equal(m, m2) and np.array_equal(shade, s2)
    # different seeds give different cracks
    a = data.crack_shading(256, 256, np.random.default_rng(1))[1]
    b = data.crack_shading(256, 256, np.random.default_rng(2))[1]
    assert not np.array_equal(a, b)


def test_thickness_measure_tells_blob_from_line():
    yy, xx = np.mgrid[0:64, 0:64]
    disc = ((yy - 32) ** 2 + (xx - 32) ** 2 <= 36).astype(np.float32)
    line = np.zeros((64, 64), np.float32)
    line[30:32, 5:60] = 1
    assert _thickness(disc) > 0.5 * disc.sum() and _thickness(line) == 0


def test_small_break_is_a_chip_at_the_border():
    for seed in range(10):
        m = data.break_mask(256, 256, np.random.default_rng(seed), small=True)
        big = data.break_mask(256, 256, np.random.default_rng(seed), small=False)
        assert 0 < m.sum() < 0.08 * m.size and m.sum() < big.sum()
        border = np.zeros_like(m, bool)
        border[:2], border[-2:], border[:, :2], border[:, -2:] = True, True, True, True
        assert (m[border] > 0).any(), "a chip touches the frame's edge"


def test_synthesizer_kinds_darken_inside_mask_only():
    img = np.full((64, 64, 1), 0.6, np.float32)
    roi = np.ones((64, 64), np.float32)
    for kind in ("pit_prob", "crack_prob"):
        synth = data.DefectSynthesizer(data.SynthConfig(**{kind: 1.0}), [])
        changed = 0
        for seed in range(10):
            xn, m = synth(img, roi, np.random.default_rng(seed), force_defect=True)
            assert xn.shape == img.shape and xn.dtype == np.float32 and m.sum() > 0
            diff = np.abs(xn[..., 0] - img[..., 0])
            assert diff[m > 0].max() > 0.1          # visible inside the label
            assert diff[m == 0].max() < 0.6         # only the soft rim changes outside it
            assert (diff > 1e-6)[m == 0].sum() < 4 * max(m.sum(), 16)
            changed += 1
        assert changed == 10
    # the ROI cuts the label
    roi2 = np.zeros((64, 64), np.float32)
    _, m = data.DefectSynthesizer(data.SynthConfig(pit_prob=1.0), [])(img, roi2, np.random.default_rng(0), True)
    assert m.sum() == 0


def test_faint_perlin_blend_is_weaker():
    img = np.full((64, 64, 1), 0.5, np.float32)
    roi = np.ones((64, 64), np.float32)
    faint = data.DefectSynthesizer(data.SynthConfig(faint_prob=1.0, texture_prob=0, self_prob=0), [])
    for seed in range(10):
        xn, m = faint(img, roi, np.random.default_rng(seed), force_defect=True)
        # random-pixel fill in [0,1], b <= 0.5: at most half the distance to the fill
        assert np.abs(xn - img)[m > 0].max() <= 0.5 * 0.5 + 1e-5


def test_old_defaults_unchanged_by_new_options():
    """With the new kinds off, the synthesizer draws the same random numbers as before, so the
    old validation set (and the session-3 recipe) is unchanged."""
    img = np.random.default_rng(5).random((64, 64, 1)).astype(np.float32)
    roi = np.ones((64, 64), np.float32)
    a = data.DefectSynthesizer(data.SynthConfig(break_prob=0.3), [])
    b = data.DefectSynthesizer(data.SynthConfig(break_prob=0.3, small_break_prob=0.0, pit_prob=0.0), [])
    for seed in range(5):
        xa, ma = a(img, roi, np.random.default_rng(seed))
        xb, mb = b(img, roi, np.random.default_rng(seed))
        assert np.array_equal(xa, xb) and np.array_equal(ma, mb)


def test_dilated_training_label_contains_the_defect():
    img = np.full((64, 64, 1), 0.6, np.float32)
    roi = np.ones((64, 64), np.float32)
    plain = data.DefectSynthesizer(data.SynthConfig(pit_prob=1.0), [])
    wide = data.DefectSynthesizer(data.SynthConfig(pit_prob=1.0, small_label_dilate=3), [])
    xa, ma = plain(img, roi, np.random.default_rng(3), True)
    xb, mb = wide(img, roi, np.random.default_rng(3), True)
    assert np.array_equal(xa, xb)                       # same image, only the label grows
    assert (mb >= ma).all() and mb.sum() >= ma.sum() + 24
    assert np.array_equal(data.dilate(ma, 0), ma)


def test_wide_hard_set_extends_the_hard_set_with_every_kind_per_image(tmp_path):
    """The wide set (session 10's int8-against-fp32 check) keeps the hard set's images and defects
    as its repeat 0, gives each good image each defect kind once, and is the same on every build."""
    from PIL import Image
    from grdnet_train.train import TrainConfig, build_hard_val_set, build_wide_hard_val_set
    rng = np.random.default_rng(3)
    files = []
    for i in range(6):
        p = tmp_path / f"g{i}.png"
        Image.fromarray((rng.random((40, 56)) * 200 + 20).astype(np.uint8)).save(p)
        files.append(str(p))
    cfg = TrainConfig(data=str(tmp_path), out=str(tmp_path / "run"), size=32, channels=1)
    roi = data.ROISource(None, 32)
    hx, hm, kinds = build_hard_val_set(cfg, files, roi, [], [0.4], [0.2])
    gx, dx, dm, dk = build_wide_hard_val_set(cfg, files, roi, [], [0.4], [0.2])
    assert gx.shape == (6, 1, 32, 32) and dx.shape == (24, 1, 32, 32) and dm.shape == (24, 32, 32)
    assert np.array_equal(gx, hx[0::2])
    assert np.array_equal(dx[:6], hx[1::2]) and np.array_equal(dm[:6], hm[1::2]) and np.array_equal(dk[:6], kinds)
    for i in range(6):
        assert sorted(dk[i::6].tolist()) == [0, 1, 2, 3], "each image gets each kind once"
    assert all(m.sum() > 0 for m in dm)
    assert not np.array_equal(dx[6:12], dx[:6]), "repeats are new draws"
    again = build_wide_hard_val_set(cfg, files, roi, [], [0.4], [0.2])
    assert all(np.array_equal(a, b) for a, b in zip(again, (gx, dx, dm, dk)))
