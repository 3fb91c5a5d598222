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
                 threshold: float | None, card: dict | None, ranges: list | None = None,
                 balance_gamma: float | None = None, letterbox_pad: list | None = None):
    """Quantises and writes `out_path`; returns the converter's in-memory graph. `ranges`: the
    activation ranges learned by quantisation-aware training (qat.py), if the checkpoint has them.
    `balance_gamma`: the converter's skip-join rescale (None = its default, 0 = off).
    `letterbox_pad`: the padding per channel of a letterbox-trained model (None = squash)."""
    convert, _ = _converter()
    extra = {} if balance_gamma is None else {"balance_gamma": balance_gamma}
    g, data = convert.convert(onnx_path, out_path, calibration, mean, std, threshold=threshold, card=card,
                              ranges=ranges, letterbox_pad=letterbox_pad, **extra)
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


def int8_maps_and_scores(g, pixel_images: list[np.ndarray], batch: int = 8,
                         rois: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps (N x H x W float32) and engine scores (21x21 fixed-point box max) for uint8 HWC images.
    `rois` (N x H x W, e.g. each letterboxed part): the score looks inside each ROI only, as the
    engine does with its inspection ROI; None = the whole frame."""
    _, ref = _converter()
    if rois is not None and len(rois) != len(pixel_images):
        raise ValueError(f"int8_maps_and_scores: {len(rois)} ROIs for {len(pixel_images)} images")
    maps = []
    for i in range(0, len(pixel_images), batch):
        maps.append(forward_int8_fast(g, np.stack(pixel_images[i:i + batch])))
    maps = np.concatenate(maps)
    scores = np.array([ref.score(h, None if rois is None else rois[i]) for i, h in enumerate(maps)], np.float32)
    return maps, scores


def forward_int8_fast(g, pixels: np.ndarray) -> np.ndarray:
    """The converter's `forward_int8` for a batch (pixels uint8 [N,H,W,C] -> heatmaps [N,H,W]),
    with convolutions done by torch instead of int64 numpy matmuls (~15 s per 256x256 image
    here). Exactness: a float32 convolution is exact when every partial sum stays below 2^24;
    conv(|x|, |w|) bounds them, and a layer that fails the bound is redone in float64 (exact
    below 2^53). Elementwise steps use the reference's own requantisation helpers, so the result
    equals `forward_int8` bit for bit (tests/test_int8.py checks it)."""
    import torch
    import torch.nn.functional as F

    _, ref = _converter()
    F32 = ref.F32
    vals = [None] * len(g.tensors)
    vals[0] = np.stack([ref.quantize_input(g, p) for p in pixels])
    heat = None

    def nchw(a, dtype):
        return torch.from_numpy(np.ascontiguousarray(a, dtype)).permute(0, 3, 1, 2)

    def exact_conv(fn, x, w, **kw):
        """x: centred integer activations NHWC (int), w: integer weights in torch layout."""
        xt, wt = nchw(x, np.float32), torch.from_numpy(w.astype(np.float32))
        bound = fn(xt.abs(), wt.abs(), **kw).max().item()
        if bound < 2 ** 24:
            acc = fn(xt, wt, **kw)
        else:
            acc = fn(nchw(x, np.float64), torch.from_numpy(w.astype(np.float64)), **kw)
        return acc.permute(0, 2, 3, 1).numpy().astype(np.float64)

    with torch.no_grad():
        for op in g.ops:
            ins = [vals[i] for i in op.inputs]
            tin = [g.tensors[i] for i in op.inputs]
            tout = g.tensors[op.output] if op.output >= 0 else None
            if op.kind == ref.CONV:
                t, l, b, r = op.pads
                # the reference pads with the input zero point and folds -zp*sum(w) into qb;
                # here: pad the centred input with 0 and add zp*sum(w) back, which is the same sum
                x = ins[0].astype(np.int64) - tin[0].zp
                x = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)))
                w = op.qw.astype(np.int64).transpose(0, 3, 1, 2)  # OIHW
                acc = exact_conv(F.conv2d, x, w, stride=(op.sy, op.sx))
                acc = acc + (tin[0].zp * op.qw.astype(np.int64).reshape(op.qw.shape[0], -1).sum(1)
                             + op.qb.astype(np.int64)).astype(np.float64)
                assert np.all(np.abs(acc) < 2 ** 31)
                vals[op.output] = ref.requant(acc, op.qs, tout.zp, op.slope)
            elif op.kind == ref.CONV_T:
                t, l, b, r = op.pads
                if (t, l) != (b, r):
                    raise ValueError("asymmetric ConvTranspose pads are not handled by the fast path")
                x0 = ins[0].astype(np.int64) - tin[0].zp
                w = op.qw.astype(np.int64).transpose(3, 0, 1, 2)  # [I, O, kh, kw]
                acc = exact_conv(F.conv_transpose2d, x0, w, stride=(op.sy, op.sx), padding=(t, l))
                if acc.shape[1:] != (tout.h, tout.w, tout.c):
                    raise ValueError(f"ConvTranspose output {acc.shape} != {(tout.h, tout.w, tout.c)}")
                acc = acc + op.qb.astype(np.float64)
                vals[op.output] = ref.requant(acc, op.qs, tout.zp, op.slope)
            elif op.kind == ref.ADD:
                ma = F32(tin[0].scale) / F32(tout.scale)
                mb = F32(tin[1].scale) / F32(tout.scale)
                fa = (ins[0].astype(np.int32) - tin[0].zp).astype(F32) * ma
                fb = (ins[1].astype(np.int32) - tin[1].zp).astype(F32) * mb
                f = (fa + fb).astype(F32)
                f = np.where(f < 0, f * F32(op.slope), f).astype(F32)
                vals[op.output] = ref.clamp_out(f, tout.zp)
            elif op.kind == ref.CONCAT:
                parts = []
                for v, t_ in zip(ins, tin):
                    if F32(t_.scale) == F32(tout.scale) and t_.zp == tout.zp:
                        parts.append(v)
                    else:
                        m = F32(t_.scale) / F32(tout.scale)
                        parts.append(ref.clamp_out((v.astype(np.int32) - t_.zp).astype(F32) * m, tout.zp))
                vals[op.output] = np.concatenate(parts, axis=3)
            elif op.kind in (ref.MAXPOOL, ref.AVGPOOL):
                a = ins[0].astype(np.int32)
                k, s_ = op.pool_k, op.pool_s
                oh, ow = (a.shape[1] - k) // s_ + 1, (a.shape[2] - k) // s_ + 1
                win = np.stack([a[:, ky:ky + s_ * (oh - 1) + 1:s_, kx:kx + s_ * (ow - 1) + 1:s_]
                                for ky in range(k) for kx in range(k)])
                if op.kind == ref.MAXPOOL:
                    vals[op.output] = win.max(0).astype(np.int8)
                else:
                    m = (F32(tin[0].scale) / F32(tout.scale)) / F32(k * k)
                    vals[op.output] = ref.clamp_out((win.sum(0) - k * k * tin[0].zp).astype(F32) * m, tout.zp)
            elif op.kind == ref.RESIZE2X:
                vals[op.output] = ins[0].repeat(2, axis=1).repeat(2, axis=2)
            elif op.kind == ref.MAP_SIGMOID:
                heat = op.table[ins[0][..., 0].astype(np.int32) + 128].astype(F32)
            elif op.kind == ref.MAP_SOFTMAX2:
                heat = op.table[ins[0][..., 1].astype(np.int32) - ins[0][..., 0].astype(np.int32) + 255].astype(F32)
            else:
                raise ValueError(f"unknown op kind {op.kind}")
    return heat
