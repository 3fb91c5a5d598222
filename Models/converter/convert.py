#!/usr/bin/env python3
"""ONNX -> .grdnet converter (ncnn style: a converter beside a lean runtime).

Reads the fp32 ONNX inference graph exported by training (opset 17, NCHW, input "image"
[1,C,H,W] normalised as (pixel/255 - mean)/std), maps it to NHWC, quantises it (per-output-
channel symmetric int8 weights in [-127, 127], int32 biases with the input zero point folded in,
per-tensor asymmetric int8 activations calibrated on good images: min-max against percentile,
the one with the lower quantisation MSE wins per tensor, or ranges learned by quantisation-aware
training), rescales each U-Net skip join so that its two inputs share one int8 range better
(`balance_skip_concats`; the fp32 function is unchanged), computes golden vectors with the
numpy integer reference (grdnet_ref.py) and writes a .grdnet file (FORMAT.md).

usage: convert.py MODEL.onnx OUT.grdnet --calibration good.npy --mean M --std S
                  [--height H --width W] [--threshold T] [--roi roi.png|roi.npy] [--card card.json]
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import onnx
from onnx import numpy_helper

import grdnet_format
from grdnet_ref import (Graph, Tensor, Op, CONV, CONV_T, ADD, CONCAT, MAXPOOL, AVGPOOL, RESIZE2X,
                        MAP_SIGMOID, MAP_SOFTMAX2, OP_NAMES, conv_out, forward_fp32, forward_int8,
                        score, map_table, normalise, F32)

CONVERTER_VERSION = "1.0"
# balance_skip_concats' gamma for every conversion (0 = off): chosen in session 13 on the
# magnetic-tile validation set, the lowest mean int8-fp32 score difference of 0.25, 0.5, 0.75, 1
DEFAULT_BALANCE_GAMMA = 0.25


class ConversionError(Exception):
    pass


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def import_onnx(path: str, height: int | None, width: int | None, mean, std) -> Graph:
    """Builds the fp32 graph IR (NHWC, weights OHWI) with activations fused into producers."""
    model = onnx.load(path)
    gr = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in gr.initializer}
    for n in gr.node:
        if n.op_type == "Constant":
            inits[n.output[0]] = numpy_helper.to_array(_attrs(n)["value"])
    real_inputs = [i for i in gr.input if i.name not in inits]
    if len(real_inputs) != 1:
        raise ConversionError(f"{path}: expected one graph input, found {[i.name for i in real_inputs]}")
    inp = real_inputs[0]
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inp.type.tensor_type.shape.dim]
    if len(dims) != 4:
        raise ConversionError(f"{path}: input '{inp.name}' must be [1, C, H, W], got {dims}")
    c = dims[1]
    h = height or dims[2]
    w = width or dims[3]
    if not (c in (1, 3) and h and w):
        raise ConversionError(f"{path}: input geometry C={c} H={h} W={w} is not usable (give --height/--width for dynamic sizes)")
    mean = list(mean) * (c if len(mean) == 1 else 1)
    std = list(std) * (c if len(std) == 1 else 1)
    g = Graph(height=h, width=w, channels=c, mean=[float(m) for m in mean], std=[float(s) for s in std])
    g.tensors.append(Tensor(h, w, c))
    name_to_t = {inp.name: 0}
    consumers = {}
    for n in gr.node:
        for i in n.input:
            consumers[i] = consumers.get(i, 0) + 1
    for o in gr.output:
        consumers[o.name] = consumers.get(o.name, 0) + 1
    producer = {}  # tensor id -> op
    softmax_of = {}

    def new_tensor(hh, ww, cc):
        g.tensors.append(Tensor(hh, ww, cc))
        return len(g.tensors) - 1

    def t_of(name, node):
        if name not in name_to_t:
            raise ConversionError(f"{path}: node {node.name or node.op_type} reads '{name}', which is not a supported tensor")
        return name_to_t[name]

    for n in gr.node:
        op_type = n.op_type
        a = _attrs(n)
        label = f"node '{n.name or n.output[0]}' ({op_type})"
        if op_type == "Constant":
            continue
        if op_type == "Identity":
            name_to_t[n.output[0]] = t_of(n.input[0], n)
            continue
        if op_type in ("Conv", "ConvTranspose"):
            x = t_of(n.input[0], n)
            wt = inits.get(n.input[1])
            if wt is None:
                raise ConversionError(f"{label}: weights must be constant")
            if a.get("group", 1) != 1 or any(d != 1 for d in a.get("dilations", [1, 1])):
                raise ConversionError(f"{label}: groups and dilations other than 1 are not supported")
            if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise ConversionError(f"{label}: auto_pad is not supported (export explicit pads)")
            if any(p != 0 for p in a.get("output_padding", [0, 0])):
                raise ConversionError(f"{label}: output_padding is not supported")
            kind = CONV if op_type == "Conv" else CONV_T
            if kind == CONV:
                w_ohwi = wt.transpose(0, 2, 3, 1)
            else:
                w_ohwi = wt.transpose(1, 2, 3, 0)
            cout, kh, kw, cin = w_ohwi.shape
            b = inits[n.input[2]] if len(n.input) > 2 and n.input[2] else np.zeros(cout, np.float32)
            pads = a.get("pads", [0, 0, 0, 0])
            strides = a.get("strides", [1, 1])
            op = Op(kind, [x], -1, kh=kh, kw=kw, sy=strides[0], sx=strides[1],
                    pads=(pads[0], pads[1], pads[2], pads[3]), w=w_ohwi.astype(F32), b=b.astype(F32))
            ti = g.tensors[x]
            if ti.c != cin:
                raise ConversionError(f"{label}: input has {ti.c} channels, weights expect {cin}")
            oh, ow = conv_out(ti.h, ti.w, op)
            op.output = new_tensor(oh, ow, cout)
        elif op_type in ("Relu", "LeakyRelu"):
            x = t_of(n.input[0], n)
            p = producer.get(x)
            slope = 0.0 if op_type == "Relu" else float(a.get("alpha", 0.01))
            if p is None or p.kind not in (CONV, CONV_T, ADD) or p.slope != 1.0 or consumers.get(n.input[0], 0) != 1:
                raise ConversionError(f"{label}: an activation must directly follow a Conv, ConvTranspose or Add with no other consumer")
            p.slope = slope
            name_to_t[n.output[0]] = x
            continue
        elif op_type == "Add":
            xa, xb = t_of(n.input[0], n), t_of(n.input[1], n)
            ta, tb = g.tensors[xa], g.tensors[xb]
            if (ta.h, ta.w, ta.c) != (tb.h, tb.w, tb.c):
                raise ConversionError(f"{label}: broadcasting Add is not supported")
            op = Op(ADD, [xa, xb], new_tensor(ta.h, ta.w, ta.c))
        elif op_type == "Concat":
            if a.get("axis") not in (1, -3):
                raise ConversionError(f"{label}: only channel concatenation (axis 1) is supported")
            xs = [t_of(i, n) for i in n.input]
            t0 = g.tensors[xs[0]]
            op = Op(CONCAT, xs, new_tensor(t0.h, t0.w, sum(g.tensors[i].c for i in xs)))
        elif op_type in ("MaxPool", "AveragePool"):
            x = t_of(n.input[0], n)
            k = a.get("kernel_shape")
            s = a.get("strides", k)
            if k[0] != k[1] or s[0] != s[1] or any(a.get("pads", [0, 0, 0, 0])) or a.get("ceil_mode", 0):
                raise ConversionError(f"{label}: only square, unpadded, floor-mode pooling is supported")
            ti = g.tensors[x]
            op = Op(MAXPOOL if op_type == "MaxPool" else AVGPOOL, [x], -1, pool_k=k[0], pool_s=s[0])
            op.output = new_tensor((ti.h - k[0]) // s[0] + 1, (ti.w - k[0]) // s[0] + 1, ti.c)
        elif op_type in ("Resize", "Upsample"):
            x = t_of(n.input[0], n)
            mode = a.get("mode", b"nearest")
            mode = mode.decode() if isinstance(mode, bytes) else mode
            scales = None
            for cand in n.input[1:]:
                if cand in inits and inits[cand].size == 4 and inits[cand].dtype.kind == "f":
                    scales = inits[cand]
            ti = g.tensors[x]
            if scales is None and len(n.input) > 3 and n.input[3] in inits:
                sz = inits[n.input[3]]
                scales = sz / np.array([1, ti.c, ti.h, ti.w])
            if mode != "nearest" or scales is None or not np.allclose(scales, [1, 1, 2, 2]):
                raise ConversionError(f"{label}: only nearest-neighbour x2 resizing is supported")
            op = Op(RESIZE2X, [x], new_tensor(ti.h * 2, ti.w * 2, ti.c))
        elif op_type == "Sigmoid":
            x = t_of(n.input[0], n)
            if g.tensors[x].c != 1:
                raise ConversionError(f"{label}: the sigmoid anomaly map must have 1 channel")
            op = Op(MAP_SIGMOID, [x], -1)
            name_to_t[n.output[0]] = -1
        elif op_type == "Softmax":
            x = t_of(n.input[0], n)
            if a.get("axis", 1) not in (1, -3) or g.tensors[x].c != 2:
                raise ConversionError(f"{label}: only a 2-channel softmax over axis 1 is supported")
            op = Op(MAP_SOFTMAX2, [x], -1)
            name_to_t[n.output[0]] = -1
        elif op_type in ("Slice", "Gather"):
            if name_to_t.get(n.input[0]) != -1:
                raise ConversionError(f"{label}: Slice/Gather is only supported on the softmax output")
            name_to_t[n.output[0]] = -1
            continue
        else:
            raise ConversionError(f"{label}: operator {op_type} is not supported by grdnet-edge")
        if op.output >= 0:
            name_to_t[n.output[0]] = op.output
            producer[op.output] = op
        g.ops.append(op)
    maps = [o for o in g.ops if o.kind in (MAP_SIGMOID, MAP_SOFTMAX2)]
    if len(maps) > 1 or (maps and g.ops[-1] is not maps[0]):
        raise ConversionError(f"{path}: the graph must end in exactly one Sigmoid or Softmax anomaly map")
    return g


def balance_skip_concats(g: Graph, ranges: list | None, calibration: list, gamma: float) -> tuple[list | None, list]:
    """Rescales each U-Net skip join so that its two halves share one int8 range better.

    Why: a skip Concat gets one int8 range for both inputs, and the up-convolution's output is
    often ~100x wider than the skip (session 12's file: -33..40 against 0..0.61), so the skip is
    left with 2-3 int8 steps and its detail is lost; a torch simulation on the validation set put
    most of the int8-vs-fp32 score noise there. The rescale changes nothing in fp32: a
    ConvTranspose without activation, whose only reader is a 2-input Concat whose only reader is a
    Conv, gets weights and bias x alpha, and that Conv's weights on those channels / alpha, with
    alpha = (R_skip / R_up) ** gamma (R = hi - lo of each input's range): gamma 0 leaves the graph
    as it is, 1 gives both inputs the same range (the Conv's per-channel weight steps then grow
    instead), 0.5 splits the difference. Returns (ranges with the rescaled tensors' entries
    updated, or None when ranges are calibrated later; one record per rescaled join)."""
    if not (0.0 <= gamma <= 1.0):
        raise ConversionError(f"skip-join balance gamma must be in [0, 1] (0 = off), got {gamma}")
    if gamma == 0:
        return ranges, []
    readers: dict[int, list] = {}
    producer: dict[int, Op] = {}
    for op in g.ops:
        for i in op.inputs:
            readers.setdefault(i, []).append(op)
        if op.output >= 0:
            producer[op.output] = op
    own = ranged_ops(g)
    index = {id(op): k for k, op in enumerate(own)}
    measured: dict[int, tuple[float, float]] = {}
    if ranges is None:   # no learned ranges: the fp32 calibration pass measures the inputs' ranges
        for x in calibration:
            vals, _ = forward_fp32(g, x)
            for t, v in enumerate(vals):
                if v is not None:
                    lo, hi = measured.get(t, (np.inf, -np.inf))
                    measured[t] = (min(lo, float(v.min())), max(hi, float(v.max())))

    def tensor_range(t: int) -> tuple[float, float]:
        op = producer.get(t)
        while op is not None and op.kind in (MAXPOOL, RESIZE2X):   # these inherit their input's range
            t, op = op.inputs[0], producer.get(op.inputs[0])
        if op is None:   # the graph input
            lo, hi = _input_range(g)
        elif ranges is None:
            lo, hi = measured[t]
        else:
            lo, hi = ranges[index[id(op)]]
        return min(float(lo), 0.0), max(float(hi), 0.0)

    out = None if ranges is None else [list(r) for r in ranges]
    done = []
    for cat in g.ops:
        if cat.kind != CONCAT or len(cat.inputs) != 2 or len(readers.get(cat.output, [])) != 1:
            continue
        conv = readers[cat.output][0]
        ups = [k for k, t in enumerate(cat.inputs) if producer.get(t) is not None and producer[t].kind == CONV_T
               and producer[t].slope == 1.0 and len(readers[t]) == 1]
        if conv.kind != CONV or len(ups) != 1:
            continue
        k = ups[0]
        up = producer[cat.inputs[k]]
        r_up, r_skip = tensor_range(cat.inputs[k]), tensor_range(cat.inputs[1 - k])
        if min(r_up[1] - r_up[0], r_skip[1] - r_skip[0]) < 1e-6:   # a constant input: nothing to balance
            continue
        alpha = ((r_skip[1] - r_skip[0]) / (r_up[1] - r_up[0])) ** gamma
        first = sum(g.tensors[t].c for t in cat.inputs[:k])
        span = slice(first, first + g.tensors[cat.inputs[k]].c)
        up.w = (up.w * alpha).astype(F32)
        up.b = (up.b * alpha).astype(F32)
        w = conv.w.copy()
        w[:, :, :, span] = w[:, :, :, span] / F32(alpha)
        conv.w = w.astype(F32)
        if out is not None:
            scaled = (r_up[0] * alpha, r_up[1] * alpha)
            out[index[id(up)]] = list(scaled)
            out[index[id(cat)]] = [min(scaled[0], r_skip[0]), max(scaled[1], r_skip[1])]
        done.append({"concat_output": cat.output, "alpha": float(alpha), "up_range": list(r_up), "skip_range": list(r_skip)})
    return out, done


def _input_range(g: Graph) -> tuple[float, float]:
    """The exact range of the normalised input: pixels 0..1 through (p - mean) / std."""
    return (min((0.0 - m) / s for m, s in zip(g.mean, g.std)),
            max((1.0 - m) / s for m, s in zip(g.mean, g.std)))


def _choose_range(samples: np.ndarray):
    """min-max vs 99.99th percentile: keep the range with the lower quantise-dequantise MSE."""
    flat = samples.ravel().astype(np.float64)
    best = None
    cands = [("minmax", flat.min(), flat.max()),
             ("percentile", np.percentile(flat, 0.01), np.percentile(flat, 99.99))]
    for name, lo, hi in cands:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        if hi - lo < 1e-8:
            hi = lo + 1e-8
        s, zp = _qparams(lo, hi)
        q = np.clip(np.rint(flat / s) + zp, -128, 127)
        mse = float(np.mean(((q - zp) * s - flat) ** 2))
        if best is None or mse < best[0]:
            best = (mse, name, s, zp)
    return best[1], best[2], best[3]


def _qparams(lo, hi):
    s = float(F32((hi - lo) / 255.0))
    zp = int(np.clip(np.rint(-128 - lo / s), -128, 127))
    return s, zp


def ranged_ops(g: Graph) -> list:
    """The ops whose output tensor gets a range of its own, in graph order (pooling and resizing
    inherit their input's): the order in which `quantise` takes learned ranges."""
    return [op for op in g.ops if op.output >= 0 and op.kind not in (MAXPOOL, RESIZE2X)]


def quantise(g: Graph, calibration: list[np.ndarray], ranges: list | None = None) -> dict:
    """calibration: list of normalised float32 HWC images. Fills tensor quantisation, int8
    weights, biases, scales and map tables. Returns a per-tensor report.
    ranges: optional (lo, hi) per `ranged_ops(g)` output, learned by quantisation-aware training;
    they replace calibration, because a network fine-tuned with its rounding simulated at those
    ranges expects them (ranges calibrated on good images only clip the U-Net's defect responses)."""
    if ranges is not None:
        own = ranged_ops(g)
        if len(ranges) != len(own):
            raise ConversionError(f"{len(ranges)} learned activation ranges given, the graph quantises {len(own)} tensors")
        bad = [i for i, (lo, hi) in enumerate(ranges) if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi)]
        if bad:
            raise ConversionError(f"learned activation range {bad[0]} is not a finite lo < hi: {ranges[bad[0]]}")
    collected = [[] for _ in g.tensors]
    for x in (calibration if ranges is None else []):   # learned ranges need no calibration pass
        vals, _ = forward_fp32(g, x)
        for i, v in enumerate(vals):
            if v is not None:
                collected[i].append(v.ravel()[:: max(1, v.size // 200000)])
    report = {}
    lo, hi = _input_range(g)
    g.tensors[0].scale, g.tensors[0].zp = _qparams(min(lo, 0.0), max(hi, 0.0))
    report[0] = "input-range"
    for i, op in enumerate(ranged_ops(g)):
        if ranges is not None:
            lo, hi = ranges[i]
            (s, zp), name = _qparams(min(float(lo), 0.0), max(float(hi), 0.0)), "learned"
        else:
            name, s, zp = _choose_range(np.concatenate(collected[op.output]))
        g.tensors[op.output].scale, g.tensors[op.output].zp = s, zp
        report[op.output] = name
    # pooling/resizing keep their input's quantisation (processed in order)
    for op in g.ops:
        if op.kind in (MAXPOOL, RESIZE2X):
            src = g.tensors[op.inputs[0]]
            g.tensors[op.output].scale, g.tensors[op.output].zp = src.scale, src.zp
            report[op.output] = "inherited"
    for op in g.ops:
        if op.kind in (CONV, CONV_T):
            tin, tout = g.tensors[op.inputs[0]], g.tensors[op.output]
            amax = np.abs(op.w.reshape(op.w.shape[0], -1)).max(axis=1).astype(np.float64)
            sw = np.where(amax > 0, amax / 127.0, 1.0)
            qw = np.clip(np.rint(op.w / sw[:, None, None, None]), -127, 127).astype(np.int8)
            sb = F32(tin.scale) * sw.astype(F32)
            qb = np.rint(op.b.astype(np.float64) / sb.astype(np.float64)).astype(np.int64)
            if op.kind == CONV:
                qb = qb - tin.zp * qw.reshape(qw.shape[0], -1).astype(np.int64).sum(1)
            if np.any(np.abs(qb) >= 2**31):
                raise ConversionError(f"{OP_NAMES[op.kind]} bias does not fit int32 after quantisation")
            op.qw, op.qb = qw, qb.astype(np.int32)
            op.qs = (F32(tin.scale) * sw.astype(F32) / F32(tout.scale)).astype(F32)
        elif op.kind in (MAP_SIGMOID, MAP_SOFTMAX2):
            t = g.tensors[op.inputs[0]]
            op.table = map_table(op.kind, t.scale, t.zp)
    tab = []
    from grdnet_ref import input_float_table
    ft = input_float_table(g)
    t0 = g.tensors[0]
    for c in range(g.channels):
        q = np.clip(np.rint((ft[c] / F32(t0.scale)).astype(F32)) + t0.zp, -128, 127)
        tab.append(q.astype(np.int8))
    g.input_table = np.concatenate(tab)
    return report


def golden_vectors(g: Graph, pixel_images: list[np.ndarray]):
    out = []
    for px in pixel_images:
        vals, heat = forward_int8(g, px)
        fvals, fheat = forward_fp32(g, normalise(g, px))
        s = score(heat, g.roi, g.score_stats) if heat is not None else F32(float("nan"))
        fs = score(fheat, g.roi, g.score_stats) if fheat is not None else F32(float("nan"))
        out.append((px, vals[g.output_tensor].ravel(), F32(s), F32(fs)))
    return out


def to_pixels(g: Graph, normalised_nchw: np.ndarray) -> np.ndarray:
    x = normalised_nchw.transpose(1, 2, 0).astype(np.float64)
    px = (x * np.array(g.std) + np.array(g.mean)) * 255.0
    return np.clip(np.rint(px), 0, 255).astype(np.uint8)


def load_calibration(g: Graph, path_or_array) -> tuple[list, list]:
    """Accepts float32 [N,C,H,W] normalised images or uint8 [N,H,W,C] pixels.
    Returns (normalised HWC float32 list, uint8 HWC pixel list)."""
    arr = np.load(path_or_array) if isinstance(path_or_array, str) else path_or_array
    if arr.ndim == 4 and len(arr) == 0:   # else numpy's "need at least one array to concatenate"
        raise ConversionError("the calibration set holds no images: at least one is needed (the golden "
                              "vectors, and the activation ranges unless they were learned, come from it)")
    if arr.dtype == np.uint8:
        if arr.ndim != 4 or arr.shape[1:] != (g.height, g.width, g.channels):
            raise ConversionError(f"calibration pixels must be [N,{g.height},{g.width},{g.channels}] uint8, got {arr.shape}")
        px = list(arr)
    else:
        if arr.ndim != 4 or arr.shape[1:] != (g.channels, g.height, g.width):
            raise ConversionError(f"calibration images must be [N,{g.channels},{g.height},{g.width}] float, got {arr.shape}")
        px = [to_pixels(g, a) for a in arr]
    return [normalise(g, p) for p in px], px


def convert(onnx_path: str, out_path: str, calibration, mean, std, height=None, width=None,
            threshold=None, roi=None, card=None, golden_count=2, seed=0, score_stats=None, ranges=None,
            balance_gamma=DEFAULT_BALANCE_GAMMA, letterbox_pad=None):
    """score_stats: optional grdnet_ref.ScoreStats (the standardised score, FORMAT.md section 6).
    ranges: optional learned activation ranges (see `quantise`); calibration then only feeds the golden vectors.
    balance_gamma: see `balance_skip_concats` (0 = off).
    letterbox_pad: None (the box squashes frames to the input size) or the padding value per channel
    of a model trained on letterboxed frames (FORMAT.md section 7)."""
    g = import_onnx(onnx_path, height, width, mean, std)
    g.letterbox_pad = None if letterbox_pad is None else [int(v) for v in letterbox_pad]
    g.threshold = threshold
    g.score_stats = score_stats
    if roi is not None:
        g.roi = (np.asarray(roi) != 0).astype(np.uint8)
        if g.roi.shape != (g.height, g.width):
            raise ConversionError(f"ROI mask is {g.roi.shape}, the model input is {(g.height, g.width)}")
    norm, px = load_calibration(g, calibration)
    ranges, balanced = balance_skip_concats(g, ranges, norm, balance_gamma)
    report = quantise(g, norm, ranges)
    rng = np.random.default_rng(seed)
    gold_px = px[:max(0, golden_count - 1)] + [rng.integers(0, 256, (g.height, g.width, g.channels), dtype=np.uint8)]
    golden = golden_vectors(g, gold_px)
    meta = {
        "format": "grdnet", "format_version": grdnet_format.VERSION, "converter_version": CONVERTER_VERSION,
        "source": onnx_path.split("/")[-1],
        "input": {"height": g.height, "width": g.width, "channels": g.channels,
                  "fit": "squash" if g.letterbox_pad is None else "letterbox",
                  **({} if g.letterbox_pad is None else {"letterbox_pad": g.letterbox_pad})},
        "normalisation": {"mean": g.mean, "std": g.std, "formula": "(pixel/255 - mean)/std"},
        "default_threshold": threshold, "multiply_accumulates": g.macs(),
        "calibration": {"images": len(norm), "method": "per tensor: ranges learned by quantisation-aware training"
                        if ranges is not None else "per tensor: min-max or 99.99 percentile, lower MSE wins",
                        "choices": {k: sum(1 for v in report.values() if v == k) for k in set(report.values())}},
        **({"skip_concat_balance": {"gamma": balance_gamma, "joins": balanced}} if balanced else {}),
        "model_card": card or {},
    }
    data = grdnet_format.write_model(out_path, g, meta, golden)
    return g, data


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("onnx")
    ap.add_argument("output")
    ap.add_argument("--calibration", required=True, help=".npy of good images ([N,C,H,W] normalised float, or [N,H,W,C] uint8)")
    ap.add_argument("--mean", type=float, nargs="+", required=True)
    ap.add_argument("--std", type=float, nargs="+", required=True)
    ap.add_argument("--height", type=int)
    ap.add_argument("--width", type=int)
    ap.add_argument("--threshold", type=float)
    ap.add_argument("--roi", help="ROI mask .npy (H x W, 0 = ignore)")
    ap.add_argument("--letterbox-pad", type=int, nargs="+", metavar="PIXEL",
                    help="the model was trained on letterboxed frames: the padding value per channel (0..255)")
    ap.add_argument("--card", help="model card facts (JSON file) stored in the metadata")
    ap.add_argument("--balance-gamma", type=float, default=DEFAULT_BALANCE_GAMMA,
                    help="rescale each U-Net skip join's up-convolution by (R_skip/R_up)^gamma (0 = off)")
    ap.add_argument("--ranges", help="learned activation ranges (JSON list of [lo, hi] in graph order, from "
                                     "quantisation-aware training) instead of calibrated ones")
    args = ap.parse_args(argv)
    try:
        roi = np.load(args.roi) if args.roi else None
        card = json.load(open(args.card)) if args.card else None
        ranges = json.load(open(args.ranges)) if args.ranges else None
        g, data = convert(args.onnx, args.output, args.calibration, args.mean, args.std, args.height, args.width,
                          args.threshold, roi, card, ranges=ranges, balance_gamma=args.balance_gamma,
                          letterbox_pad=args.letterbox_pad)
    except (ConversionError, OSError, ValueError) as e:
        print(f"convert: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}: {len(data)} bytes, {len(g.ops)} ops, {g.macs() / 1e9:.3f} GMAC at {g.width}x{g.height}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
