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
