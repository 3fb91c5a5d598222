"""Image/pixel AUROC, average precision and PRO (written out to avoid a scikit-learn dependency)."""
from __future__ import annotations

import numpy as np


def _curve(y: np.ndarray, s: np.ndarray):
    """(true, false) positive counts at every distinct score, thresholds from the highest down.
    Binary labels (every caller's) take two float sorts and binary searches instead of a stable
    argsort of all scores in float64: the same integer counts, ~3x faster on the 10 M pixels that
    every validation of training scores twice (session 24)."""
    y, s = np.asarray(y).ravel(), np.asarray(s).ravel()
    if y.dtype == bool or np.all((y == 0) | (y == 1)):
        pos = y.astype(bool)
        ps, ns = np.sort(s[pos]), np.sort(s[~pos])
        u = np.unique(s)[::-1]
        tp = (len(ps) - np.searchsorted(ps, u, "left")).astype(np.float64)
        fp = (len(ns) - np.searchsorted(ns, u, "left")).astype(np.float64)
        return tp, fp
    y, s = y.astype(np.float64), s.astype(np.float64)
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    tp = np.cumsum(y)
    fp = np.cumsum(1 - y)
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # one point per distinct score
    return tp[last], fp[last]


def _auroc_of_curve(tp: np.ndarray, fp: np.ndarray) -> float:
    if tp[-1] == 0 or fp[-1] == 0:
        return float("nan")
    tpr = np.r_[0, tp / tp[-1]]
    fpr = np.r_[0, fp / fp[-1]]
    return float(np.trapezoid(tpr, fpr))


def _ap_of_curve(tp: np.ndarray, fp: np.ndarray) -> float:
    if tp[-1] == 0:
        return float("nan")
    prec = tp / (tp + fp)
    rec = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0, rec]) * prec))


def auroc(y, s) -> float:
    """Area under the ROC curve (ties handled as sklearn does)."""
    return _auroc_of_curve(*_curve(y, s))


def average_precision(y, s) -> float:
    return _ap_of_curve(*_curve(y, s))


def auroc_and_average_precision(y, s) -> tuple[float, float]:
    """auroc(y, s), average_precision(y, s) from one sort (pixel metrics: millions of scores)."""
    tp, fp = _curve(y, s)
    return _auroc_of_curve(tp, fp), _ap_of_curve(tp, fp)


def pro_auc(masks: np.ndarray, maps: np.ndarray, fpr_limit: float = 0.3, steps: int = 300,
            valid: np.ndarray | None = None) -> float:
    """Per-region overlap curve integrated up to `fpr_limit` FPR, normalised to [0,1] (MVTec AD).
    masks: NxHxW {0,1}; maps: NxHxW scores; valid: NxHxW bool, the pixels that count as negatives
    (e.g. the ROI; default all)."""
    from scipy import ndimage

    neg = np.sort(maps[(masks == 0) if valid is None else (masks == 0) & valid].ravel())
    if neg.size == 0:
        return float("nan")
    regions = []
    for m, a in zip(masks, maps):
        lab, n = ndimage.label(m > 0)
        for r in range(1, n + 1):
            regions.append(np.sort(a[lab == r]))
    if not regions:
        return float("nan")
    # thresholds from +inf down through the negatives' quantiles to below everything (FPR 1)
    qs = np.quantile(neg, np.linspace(1 - min(1.0, 2 * fpr_limit), 1, steps))
    ths = np.r_[np.inf, np.unique(qs)[::-1], -np.inf]
    fprs = 1 - np.searchsorted(neg, ths, side="right") / neg.size
    pros = np.array([np.mean([1 - np.searchsorted(r, t, side="right") / r.size for r in regions])
                     for t in ths])
    keep = fprs <= fpr_limit
    f = np.r_[fprs[keep], fpr_limit]
    p = np.r_[pros[keep], np.interp(fpr_limit, fprs, pros)]
    return float(np.trapezoid(p, f) / fpr_limit)


def _max_in_roi(a: np.ndarray, roi: np.ndarray | None) -> np.ndarray:
    """Per-image max over the ROI (NxHxW, nonzero = inside) as the engine takes it; all if None."""
    if roi is None:
        return a.max(axis=(1, 2))
    return np.where(roi > 0, a, -np.inf).max(axis=(1, 2))


def box_filter_max(maps: np.ndarray, k: int = 21, roi: np.ndarray | None = None) -> np.ndarray:
    """Image scores: max (over the ROI) of the k x k box sum / k^2 (zero padding) of the anomaly
    map, NxHxW."""
    return _max_in_roi(box_filter(maps, k), roi)


def box_filter(maps: np.ndarray, k: int = 5) -> np.ndarray:
    """k x k box mean (zero padding, as DRAEM and the engine) of NxHxW maps, fp32."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(maps, np.float32))[:, None]
    return F.avg_pool2d(t, k, stride=1, padding=k // 2, count_include_pad=True)[:, 0].numpy()


def good_statistics(good_maps: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel mean and (population) std of the k x k box-filtered maps of good images, as
    `grdnet model score-stats` and score_rules.py compute them."""
    b = box_filter(good_maps, k)
    return b.mean(0), b.std(0)


def standardised_scores(maps: np.ndarray, mean: np.ndarray, std: np.ndarray, k: int = 5,
                        floor: float = 0.01, roi: np.ndarray | None = None) -> np.ndarray:
    """The engine's image score with good-part statistics: max over the ROI (default: the image)
    of (box_k(map) - mean) / (std + floor)."""
    return _max_in_roi((box_filter(maps, k) - mean) / (std + floor), roi)
