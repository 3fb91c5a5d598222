"""int8: the engine's converter (Models/converter) turns the ONNX export into a .grdnet file; the
converter's numpy integer reference (bit-exact with the Swift engine per the engine's tests) runs it."""
from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

CONVERTER_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             "converter")


def _converter():
    if not os.path.isfile(os.path.join(CONVERTER_DIR, "convert.py")):
        raise FileNotFoundError(f"the .grdnet converter is missing: {CONVERTER_DIR}/convert.py")
    if CONVERTER_DIR not in sys.path:
        sys.path.insert(0, CONVERTER_DIR)
    import convert
    import grdnet_ref
    return convert, grdnet_ref


def build_grdnet(onnx_path: str, out_path: str, calibration: np.ndarray, mean, std,
                 threshold: float | None, card: dict | None):
    """Quantises and writes `out_path`; returns the converter's in-memory graph."""
    convert, _ = _converter()
    g, data = convert.convert(onnx_path, out_path, calibration, mean, std, threshold=threshold, card=card)
    return g, len(data)


@contextlib.contextmanager
def _fast_im2col(ref):
    """The reference's int64 matmuls are exact but slow; float64 holds these sums (< 2^31) exactly
    and uses BLAS, so im2col is widened to float64 for evaluation runs only."""
    orig = ref._im2col

    def wide(x, *a):
        cols, oh, ow = orig(x, *a)
        return cols.astype(np.float64), oh, ow

    ref._im2col = wide
    try:
        yield
    finally:
        ref._im2col = orig


def int8_maps_and_scores(g, pixel_images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps (N x H x W float32) and engine scores (21x21 fixed-point box max) for uint8 HWC images."""
    _, ref = _converter()
    maps, scores = [], []
    with _fast_im2col(ref):
        for px in pixel_images:
            _, heat = ref.forward_int8(g, px)
            maps.append(heat)
            scores.append(float(ref.score(heat, None)))
    return np.stack(maps), np.array(scores, np.float32)
