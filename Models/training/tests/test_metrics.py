import numpy as np

from grdnet_train import metrics


def test_auroc_known_values():
    y = np.array([0, 0, 1, 1])
    assert metrics.auroc(y, [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert metrics.auroc(y, [0.4, 0.3, 0.2, 0.1]) == 0.0
    assert metrics.auroc(y, [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert abs(metrics.auroc([0, 1, 0, 1], [0.1, 0.35, 0.4, 0.8]) - 0.75) < 1e-12


def test_average_precision_known_value():
    # sklearn.metrics.average_precision_score([0,0,1,1],[0.1,0.4,0.35,0.8]) == 0.8333...
    assert abs(metrics.average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) - 5 / 6) < 1e-12


def test_pro_perfect_and_poor():
    masks = np.zeros((2, 32, 32), np.float32)
    masks[0, 4:10, 4:10] = 1
    masks[1, 20:30, 2:5] = 1
    assert metrics.pro_auc(masks, masks.copy()) > 0.99
    rng = np.random.default_rng(0)
    assert metrics.pro_auc(masks, rng.random(masks.shape)) < 0.3


def test_box_filter_max_prefers_blobs_over_single_pixels():
    maps = np.zeros((2, 64, 64), np.float32)
    maps[0, 10, 10] = 1.0
    maps[1, 20:30, 20:30] = 0.5
    s = metrics.box_filter_max(maps)
    assert s[1] > s[0]


def test_standardised_scores_ignore_pixels_bright_on_good_maps():
    # Good maps: faint noise plus a spot that is bright on EVERY good map (e.g. an edge the
    # network always flags). Standardised, that spot must not score; a new spot elsewhere must.
    rng = np.random.default_rng(0)
    good = rng.random((40, 32, 32), dtype=np.float32) * 0.05
    good[:, 5:8, 5:8] += 0.8 + rng.random((40, 1, 1), dtype=np.float32) * 0.05
    mean, std = metrics.good_statistics(good, 5)
    clean = rng.random((6, 32, 32), dtype=np.float32) * 0.05
    clean[:, 5:8, 5:8] += 0.82                    # the usual bright spot: normal
    defect = clean.copy()
    defect[:, 20:23, 20:23] += 0.5                # a new, dimmer spot: abnormal
    s_clean = metrics.standardised_scores(clean, mean, std, 5, 0.01)
    s_defect = metrics.standardised_scores(defect, mean, std, 5, 0.01)
    assert s_defect.min() > 5 * s_clean.max()
    y = np.r_[np.zeros(6), np.ones(6)]
    assert metrics.auroc(y, np.r_[s_clean, s_defect]) == 1.0
    # the plain max-of-box rule ranks them the other way (the bright spot wins in both)
    plain = metrics.box_filter_max(np.r_[clean, defect], 5)
    assert metrics.auroc(y, plain) < 0.9
    # same arithmetic as score_rules.py (box 5, population std, floor 0.01)
    b = metrics.box_filter(defect, 5)
    gb = metrics.box_filter(good, 5)
    want = ((b - gb.mean(0)) / (gb.std(0) + 0.01)).max((1, 2))
    np.testing.assert_allclose(s_defect, want, rtol=1e-6)


def test_hard_image_aurocs_per_kind_and_hard_metrics_keys():
    from grdnet_train.train import HARD_KINDS, hard_image_aurocs, hard_metrics
    # interleaved (clean, defective) pairs; kind 0 defects score above every clean image,
    # kind 1 below every clean image, kind 2 absent (no key), kind 3 ties one clean score
    clean = np.array([0.2, 0.4, 0.6, 0.8])
    defective = np.array([0.9, 0.1, 0.95, 0.6])
    kinds = np.array([0, 1, 0, 3])
    scores = np.ravel(np.column_stack([clean, defective]))
    r = hard_image_aurocs(scores, kinds)
    assert r[f"image_auroc_{HARD_KINDS[0]}"] == 1.0
    assert r[f"image_auroc_{HARD_KINDS[1]}"] == 0.0
    assert f"image_auroc_{HARD_KINDS[2]}" not in r
    assert r[f"image_auroc_{HARD_KINDS[3]}"] == (2 + 0.5) / 4      # above 0.2 and 0.4, ties 0.6
    labels = np.array([0, 1] * 4)
    assert r["image_auroc"] == metrics.auroc(labels, scores)
    maps = np.zeros((8, 16, 16), np.float32)
    vm = np.zeros_like(maps)
    vm[1::2, 4:8, 4:8] = 1
    maps[1::2, 4:8, 4:8] = 1                                        # pixel-perfect maps
    h = hard_metrics(maps, vm, kinds, scores)
    assert list(h)[:3] == ["image_auroc", "pixel_auroc", "pixel_ap"]
    assert h["pixel_auroc"] == 1.0 and h["pixel_ap"] == 1.0
    assert {k: h[k] for k in r} == r


def test_scores_and_pixel_metrics_look_inside_the_roi_only():
    """Letterbox padding (outside the ROI) is never scored: map values there change no figure
    (beyond the box filter's reach: the engine box-filters the whole map, then takes the max
    inside the ROI, so the padding next to a part weighs in as a frame edge does)."""
    from grdnet_train.evaluate import compute_metrics
    from grdnet_train.train import hard_metrics
    rng = np.random.default_rng(0)
    n, s = 6, 64
    roi = np.zeros((n, s, s), np.float32); roi[:, :, 24:40] = 1
    gts = np.zeros((n, s, s), np.float32); gts[3:, 10:14, 28:32] = 1
    maps = rng.random((n, s, s)).astype(np.float32) * 0.3
    maps[3:, 10:14, 28:32] += 0.5
    hot = maps.copy(); hot[:, :, :8] = 1.0          # the padding lights up, 16 px from the part
    classes = ["good"] * 3 + ["crack"] * 3
    a, sa = compute_metrics(classes, gts, maps, roi=roi)
    b, sb = compute_metrics(classes, gts, hot, roi=roi)
    assert np.array_equal(sa, sb)
    for k in ("image_auroc", "pixel_auroc", "pixel_ap", "pro"):
        assert a["overall"][k] == b["overall"][k], k
    c, _ = compute_metrics(classes, gts, hot)         # without the ROI the padding counts
    assert c["overall"]["pixel_auroc"] < a["overall"]["pixel_auroc"]
    assert c["overall"]["image_auroc"] < a["overall"]["image_auroc"]
    kinds = np.zeros(3, int)
    order = [0, 3, 1, 4, 2, 5]                         # hard sets interleave (clean, defective)
    h1 = hard_metrics(maps[order], gts[order], kinds, roi=roi[order])
    h2 = hard_metrics(hot[order], gts[order], kinds, roi=roi[order])
    assert h1 == h2
    assert hard_metrics(hot[order], gts[order], kinds)["pixel_auroc"] < h1["pixel_auroc"]
