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
