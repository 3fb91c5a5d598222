"""numpy reference of the grdnet-edge runtime: the graph IR, an fp32 forward pass and an int8
forward pass with exactly the Swift engine's integer semantics (Sources/GRDRuntime,
Sources/GRDKernels), plus the ROI / 21x21 box-filter scoring.

Every float operation of the int8 path is done in float32 in the same order as the Swift code
(Swift never contracts a*b+c into an FMA), so results agree bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import numpy as np

F32 = np.float32

# op codes (FORMAT.md)
CONV, CONV_T, ADD, CONCAT, MAXPOOL, AVGPOOL, RESIZE2X, MAP_SIGMOID, MAP_SOFTMAX2 = range(1, 10)
OP_NAMES = {CONV: "Conv", CONV_T: "ConvTranspose", ADD: "Add", CONCAT: "Concat", MAXPOOL: "MaxPool",
            AVGPOOL: "AveragePool", RESIZE2X: "ResizeNearest2x", MAP_SIGMOID: "MapSigmoid",
            MAP_SOFTMAX2: "MapSoftmax2"}
BOX = 21


@dataclass
class Tensor:
    h: int
    w: int
    c: int
    scale: float = 1.0
    zp: int = 0


@dataclass
class Op:
    kind: int
    inputs: list
    output: int  # -1 for map ops
    # conv / conv-transpose
    kh: int = 0
    kw: int = 0
    sy: int = 1
    sx: int = 1
    pads: tuple = (0, 0, 0, 0)  # top, left, bottom, right
    slope: float = 1.0
    w: np.ndarray | None = None     # fp32 OHWI
    b: np.ndarray | None = None     # fp32 [O]
    qw: np.ndarray | None = None    # int8 OHWI
    qb: np.ndarray | None = None    # int32 (conv: input zero point folded in)
    qs: np.ndarray | None = None    # float32 requantisation scale per output channel
    pool_k: int = 0
    pool_s: int = 0
    table: np.ndarray | None = None  # map ops


@dataclass
class ScoreStats:
    """Per-pixel statistics of the box-filtered map over good parts (FORMAT.md section 6)."""
    box: int
    floor: float
    mean: np.ndarray  # H x W float32, box means of probabilities in [0, 1]
    std: np.ndarray   # H x W float32


@dataclass
class Graph:
    height: int
    width: int
    channels: int
    mean: list
    std: list
    tensors: list = field(default_factory=list)
    ops: list = field(default_factory=list)
    input_table: np.ndarray | None = None  # int8 [C*256]
    threshold: float | None = None
    roi: np.ndarray | None = None
    score_stats: "ScoreStats | None" = None
    letterbox_pad: list | None = None   # None: frames are squashed; else letterboxed, pad per channel

    @property
    def map_op(self):
        return next((o for o in self.ops if o.kind in (MAP_SIGMOID, MAP_SOFTMAX2)), None)

    @property
    def output_tensor(self) -> int:
        last = self.ops[-1]
        return last.inputs[0] if last.kind in (MAP_SIGMOID, MAP_SOFTMAX2) else last.output

    def macs(self) -> int:
        total = 0
        for op in self.ops:
            if op.kind == CONV:
                t, i = self.tensors[op.output], self.tensors[op.inputs[0]]
                total += t.h * t.w * t.c * op.kh * op.kw * i.c
            elif op.kind == CONV_T:
                t, i = self.tensors[op.output], self.tensors[op.inputs[0]]
                total += i.h * i.w * i.c * op.kh * op.kw * t.c
        return total


# ---------------------------------------------------------------------------------------------
# shapes
def conv_out(h, w, op):
    t, l, b, r = op.pads
    if op.kind == CONV:
        return (h + t + b - op.kh) // op.sy + 1, (w + l + r - op.kw) // op.sx + 1
    return (h - 1) * op.sy - t - b + op.kh, (w - 1) * op.sx - l - r + op.kw


# ---------------------------------------------------------------------------------------------
# fp32 path (NHWC, batch 1: arrays are [H, W, C])
def _im2col(x, kh, kw, sy, sx, pads, fill):
    h, w, c = x.shape
    t, l, b, r = pads
    xp = np.full((h + t + b, w + l + r, c), fill, dtype=x.dtype)
    xp[t:t + h, l:l + w] = x
    oh, ow = (h + t + b - kh) // sy + 1, (w + l + r - kw) // sx + 1
    cols = np.empty((oh, ow, kh, kw, c), dtype=x.dtype)
    for ky in range(kh):
        for kx in range(kw):
            cols[:, :, ky, kx, :] = xp[ky:ky + sy * (oh - 1) + 1:sy, kx:kx + sx * (ow - 1) + 1:sx, :]
    return cols.reshape(oh * ow, kh * kw * c), oh, ow


def _conv_t_taps(x_h, x_w, op, out_h, out_w):
    """Yields (ky, kx, oy slice, ox slice, iy slice, ix slice) of the gather form."""
    t, l, _, _ = op.pads
    for ky in range(op.kh):
        oys = [oy for oy in range(out_h) if (oy + t - ky) >= 0 and (oy + t - ky) % op.sy == 0 and (oy + t - ky) // op.sy < x_h]
        if not oys:
            continue
        for kx in range(op.kw):
            oxs = [ox for ox in range(out_w) if (ox + l - kx) >= 0 and (ox + l - kx) % op.sx == 0 and (ox + l - kx) // op.sx < x_w]
            if not oxs:
                continue
            iys = [(oy + t - ky) // op.sy for oy in oys]
            ixs = [(ox + l - kx) // op.sx for ox in oxs]
            yield ky, kx, np.array(oys), np.array(oxs), np.array(iys), np.array(ixs)


def act(v, slope):
    return np.where(v < 0, v * F32(slope), v).astype(F32)


def forward_fp32(g: Graph, x: np.ndarray):
    """x: float32 [H, W, C] normalised input. Returns (list of tensors, heatmap or None)."""
    vals = [None] * len(g.tensors)
    vals[0] = x.astype(F32)
    heat = None
    for op in g.ops:
        ins = [vals[i] for i in op.inputs]
        if op.kind == CONV:
            cols, oh, ow = _im2col(ins[0], op.kh, op.kw, op.sy, op.sx, op.pads, 0.0)
            wm = op.w.reshape(op.w.shape[0], -1).astype(F32)
            y = (cols.astype(np.float64) @ wm.T.astype(np.float64) + op.b).astype(F32).reshape(oh, ow, -1)
            vals[op.output] = act(y, op.slope)
        elif op.kind == CONV_T:
            t = g.tensors[op.output]
            y = np.zeros((t.h, t.w, t.c), np.float64) + op.b
            x0 = ins[0].astype(np.float64)
            for ky, kx, oys, oxs, iys, ixs in _conv_t_taps(x0.shape[0], x0.shape[1], op, t.h, t.w):
                y[np.ix_(oys, oxs)] += x0[np.ix_(iys, ixs)] @ op.w[:, ky, kx, :].T.astype(np.float64)
            vals[op.output] = act(y.astype(F32), op.slope)
        elif op.kind == ADD:
            vals[op.output] = act(ins[0] + ins[1], op.slope)
        elif op.kind == CONCAT:
            vals[op.output] = np.concatenate(ins, axis=2)
        elif op.kind in (MAXPOOL, AVGPOOL):
            a = ins[0]
            k, s = op.pool_k, op.pool_s
            oh, ow = (a.shape[0] - k) // s + 1, (a.shape[1] - k) // s + 1
            win = np.stack([a[ky:ky + s * (oh - 1) + 1:s, kx:kx + s * (ow - 1) + 1:s] for ky in range(k) for kx in range(k)])
            vals[op.output] = (win.max(0) if op.kind == MAXPOOL else win.mean(0)).astype(F32)
        elif op.kind == RESIZE2X:
            vals[op.output] = ins[0].repeat(2, axis=0).repeat(2, axis=1)
        elif op.kind == MAP_SIGMOID:
            heat = (1.0 / (1.0 + np.exp(-ins[0][:, :, 0].astype(np.float64)))).astype(F32)
        elif op.kind == MAP_SOFTMAX2:
            d = ins[0][:, :, 0].astype(np.float64) - ins[0][:, :, 1]
            heat = (1.0 / (1.0 + np.exp(d))).astype(F32)
    return vals, heat


# ---------------------------------------------------------------------------------------------
# int8 path: the Swift engine's semantics
def round_half_even_f32(f):
    """RequantizationFP32.roundHalfEven: clamp to +-4194303, then round half to even."""
    f = np.clip(f.astype(F32), F32(-4194303.0), F32(4194303.0))
    return np.rint(f).astype(np.int64)


def clamp_out(f, zp):
    return np.clip(round_half_even_f32(f) + zp, -128, 127).astype(np.int8)


def requant(acc, scale, zp, slope):
    f = acc.astype(np.int32).astype(F32) * scale.astype(F32)
    f = np.where(f < 0, f * F32(slope), f).astype(F32)
    return clamp_out(f, zp)


def quantize_input(g: Graph, pixels: np.ndarray) -> np.ndarray:
    """pixels: uint8 [H, W, C] -> int8 via the per-channel table."""
    c = g.channels
    tab = g.input_table.reshape(c, 256)
    return np.stack([tab[ch][pixels[:, :, ch]] for ch in range(c)], axis=2).astype(np.int8)


def forward_int8(g: Graph, pixels: np.ndarray):
    """pixels uint8 [H, W, C]. Returns (list of int8 tensors, heatmap float32 or None)."""
    vals = [None] * len(g.tensors)
    vals[0] = quantize_input(g, pixels)
    heat = None
    for op in g.ops:
        ins = [vals[i] for i in op.inputs]
        tin = [g.tensors[i] for i in op.inputs]
        tout = g.tensors[op.output] if op.output >= 0 else None
        if op.kind == CONV:
            # float64 BLAS instead of int64 matmul: every product and partial sum is an integer
            # far below 2^53, so the result is exact (and ~50x faster at 256x256)
            cols, oh, ow = _im2col(ins[0].astype(np.float64), op.kh, op.kw, op.sy, op.sx, op.pads, float(tin[0].zp))
            acc = (cols @ op.qw.reshape(op.qw.shape[0], -1).astype(np.float64).T).astype(np.int64) + op.qb.astype(np.int64)
            assert np.all(np.abs(acc) < 2**31)
            vals[op.output] = requant(acc, op.qs, tout.zp, op.slope).reshape(oh, ow, -1)
        elif op.kind == CONV_T:
            x0 = ins[0].astype(np.int64) - tin[0].zp
            acc = np.zeros((tout.h, tout.w, tout.c), np.int64) + op.qb.astype(np.int64)
            for ky, kx, oys, oxs, iys, ixs in _conv_t_taps(x0.shape[0], x0.shape[1], op, tout.h, tout.w):
                acc[np.ix_(oys, oxs)] += x0[np.ix_(iys, ixs)] @ op.qw[:, ky, kx, :].T.astype(np.int64)
            vals[op.output] = requant(acc, op.qs, tout.zp, op.slope)
        elif op.kind == ADD:
            ma = F32(tin[0].scale) / F32(tout.scale)
            mb = F32(tin[1].scale) / F32(tout.scale)
            fa = (ins[0].astype(np.int32) - tin[0].zp).astype(F32) * ma
            fb = (ins[1].astype(np.int32) - tin[1].zp).astype(F32) * mb
            f = (fa + fb).astype(F32)
            f = np.where(f < 0, f * F32(op.slope), f).astype(F32)
            vals[op.output] = clamp_out(f, tout.zp)
        elif op.kind == CONCAT:
            parts = []
            for v, t in zip(ins, tin):
                if F32(t.scale) == F32(tout.scale) and t.zp == tout.zp:
                    parts.append(v)
                else:
                    m = F32(t.scale) / F32(tout.scale)
                    parts.append(clamp_out((v.astype(np.int32) - t.zp).astype(F32) * m, tout.zp))
            vals[op.output] = np.concatenate(parts, axis=2)
        elif op.kind in (MAXPOOL, AVGPOOL):
            a = ins[0].astype(np.int32)
            k, s = op.pool_k, op.pool_s
            oh, ow = (a.shape[0] - k) // s + 1, (a.shape[1] - k) // s + 1
            win = np.stack([a[ky:ky + s * (oh - 1) + 1:s, kx:kx + s * (ow - 1) + 1:s] for ky in range(k) for kx in range(k)])
            if op.kind == MAXPOOL:
                vals[op.output] = win.max(0).astype(np.int8)
            else:
                m = (F32(tin[0].scale) / F32(tout.scale)) / F32(k * k)
                vals[op.output] = clamp_out((win.sum(0) - k * k * tin[0].zp).astype(F32) * m, tout.zp)
        elif op.kind == RESIZE2X:
            vals[op.output] = ins[0].repeat(2, axis=0).repeat(2, axis=1)
        elif op.kind == MAP_SIGMOID:
            heat = op.table[ins[0][:, :, 0].astype(np.int32) + 128].astype(F32)
        elif op.kind == MAP_SOFTMAX2:
            heat = op.table[ins[0][:, :, 1].astype(np.int32) - ins[0][:, :, 0].astype(np.int32) + 255].astype(F32)
    return vals, heat


def box_sums(heat: np.ndarray, roi: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(k x k box sums of the ROI-masked map in 16-bit fixed point, zero padding, int64; the
    ROI as bool). Exact integers: every platform agrees."""
    h, w = heat.shape
    keep = np.ones((h, w), bool) if roi is None else roi != 0
    fixed = np.where(keep, ((heat.astype(F32) * F32(65535.0)) + F32(0.5)).astype(np.uint32), 0).astype(np.int64)
    p = np.pad(fixed, k // 2)
    cs = p.cumsum(0).cumsum(1)
    cs = np.pad(cs, ((1, 0), (1, 0)))
    return cs[k:, k:] - cs[:-k, k:] - cs[k:, :-k] + cs[:-k, :-k], keep


def standardised_box_map(heat: np.ndarray, roi: np.ndarray | None, stats: ScoreStats) -> np.ndarray:
    """(box mean - mean) / (std + floor) per pixel in float64, the order of operations of the engine."""
    box, _ = box_sums(heat, roi, stats.box)
    m = box.astype(np.float64) / (float(stats.box * stats.box) * 65535.0)
    return (m - stats.mean.astype(np.float64)) / (stats.std.astype(np.float64) + np.float64(np.float32(stats.floor)))


def score(heat: np.ndarray, roi: np.ndarray | None, stats: ScoreStats | None = None) -> np.float32:
    """The engine's score: ROI-masked map in 16-bit fixed point, 21x21 box sum (zero padding),
    max inside the ROI, divided by 441 * 65535. With score statistics: the max inside the ROI of
    the standardised box mean (`standardised_box_map`), rounded to float32."""
    if stats is not None:
        _, keep = box_sums(heat, roi, 1)
        if not keep.any():
            return F32(0.0)
        return F32(standardised_box_map(heat, roi, stats)[keep].max())
    box, keep = box_sums(heat, roi, BOX)
    if not keep.any():
        return F32(0.0)
    best = int(box[keep].max())
    return F32(best / (441.0 * 65535.0))


def map_table(kind: int, scale: float, zp: int) -> np.ndarray:
    if kind == MAP_SIGMOID:
        q = np.arange(-128, 128, dtype=np.float64)
        return (1.0 / (1.0 + np.exp(-F32(scale) * (q - zp)))).astype(F32)
    d = np.arange(-255, 256, dtype=np.float64)
    return (1.0 / (1.0 + np.exp(-F32(scale) * d))).astype(F32)


def input_float_table(g: Graph) -> np.ndarray:
    """[C, 256] float32: (p/255 - mean)/std computed in float32 like the Swift engine."""
    p = np.arange(256, dtype=F32)
    return np.stack([((p / F32(255.0)) - F32(g.mean[c])) / F32(g.std[c]) for c in range(g.channels)]).astype(F32)


def normalise(g: Graph, pixels: np.ndarray) -> np.ndarray:
    tab = input_float_table(g)
    return np.stack([tab[c][pixels[:, :, c]] for c in range(g.channels)], axis=2)
