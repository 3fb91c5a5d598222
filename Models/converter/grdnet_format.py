"""Writer (and a small reader for tests) of the .grdnet model file format, version 1.
The layout is documented in FORMAT.md beside this file; Sources/GRDRuntime/GRDNetModel.swift
is the loader."""
from __future__ import annotations

import json
import struct
import zlib

import numpy as np

from grdnet_ref import (Graph, CONV, CONV_T, ADD, CONCAT, MAXPOOL, AVGPOOL, RESIZE2X, MAP_SIGMOID,
                        MAP_SOFTMAX2)

MAGIC = b"GRDNET\x00\x1a"
VERSION = 1
HEADER = 64
ENTRY = 24
SEC_META, SEC_GRAPH, SEC_WEIGHTS, SEC_ROI, SEC_GOLDEN, SEC_SCORE_STATS, SEC_FRAME_FIT = 1, 2, 3, 4, 5, 6, 7
FIT_LETTERBOX = 1


class _Blobs:
    def __init__(self):
        self.data = bytearray()

    def add(self, arr: np.ndarray) -> bytes:
        while len(self.data) % 16:
            self.data.append(0)
        off = len(self.data)
        raw = np.ascontiguousarray(arr).tobytes()
        self.data += raw
        return struct.pack("<QQ", off, len(raw))


def graph_bytes(g: Graph, blobs: _Blobs) -> bytes:
    out = bytearray()
    out += struct.pack("<III", g.height, g.width, g.channels)
    out += struct.pack(f"<{g.channels}f", *g.mean)
    out += struct.pack(f"<{g.channels}f", *g.std)
    out += g.input_table.astype(np.int8).tobytes()
    out += struct.pack("<f", float("nan") if g.threshold is None else g.threshold)
    out += struct.pack("<I", len(g.tensors))
    for t in g.tensors:
        out += struct.pack("<IIIfi", t.h, t.w, t.c, t.scale, t.zp)
    out += struct.pack("<I", len(g.ops))
    for op in g.ops:
        out += struct.pack("<II", op.kind, len(op.inputs))
        out += struct.pack(f"<{len(op.inputs)}I", *op.inputs)
        out += struct.pack("<I", 0xFFFFFFFF if op.output < 0 else op.output)
        if op.kind in (CONV, CONV_T):
            out += struct.pack("<8If", op.kh, op.kw, op.sy, op.sx, *op.pads, op.slope)
            out += blobs.add(op.qw.astype(np.int8))
            out += blobs.add(op.qb.astype("<i4"))
            out += blobs.add(op.qs.astype("<f4"))
            out += blobs.add(op.w.astype("<f4"))
            out += blobs.add(op.b.astype("<f4"))
        elif op.kind == ADD:
            out += struct.pack("<f", op.slope)
        elif op.kind in (MAXPOOL, AVGPOOL):
            out += struct.pack("<II", op.pool_k, op.pool_s)
        elif op.kind in (MAP_SIGMOID, MAP_SOFTMAX2):
            out += blobs.add(op.table.astype("<f4"))
    return bytes(out)


def write_model(path: str, g: Graph, metadata: dict, golden: list | None = None) -> bytes:
    """golden: list of (uint8 HWC input, int8 expected output tensor, float32 score, float32 fp32 score)."""
    blobs = _Blobs()
    sections = [(SEC_META, json.dumps(metadata, indent=1, sort_keys=True).encode()),
                (SEC_GRAPH, graph_bytes(g, blobs))]
    sections.append((SEC_WEIGHTS, bytes(blobs.data)))
    if g.roi is not None:
        sections.append((SEC_ROI, struct.pack("<II", g.height, g.width) + g.roi.astype(np.uint8).tobytes()))
    if golden:
        gb = bytearray(struct.pack("<I", len(golden)))
        for inp, out, s, fs in golden:
            gb += inp.astype(np.uint8).tobytes() + out.astype(np.int8).tobytes() + struct.pack("<ff", s, fs)
        sections.append((SEC_GOLDEN, bytes(gb)))
    if g.score_stats is not None:
        st = g.score_stats
        sections.append((SEC_SCORE_STATS, struct.pack("<IIIf", g.height, g.width, st.box, st.floor)
                         + st.mean.astype("<f4").tobytes() + st.std.astype("<f4").tobytes()))
    if g.letterbox_pad is not None:
        if len(g.letterbox_pad) != g.channels or not all(0 <= int(v) <= 255 for v in g.letterbox_pad):
            raise ValueError(f"letterbox padding {g.letterbox_pad} needs {g.channels} values in 0..255")
        sections.append((SEC_FRAME_FIT, struct.pack("<II", FIT_LETTERBOX, g.channels)
                         + bytes(int(v) for v in g.letterbox_pad)))
    table_end = HEADER + ENTRY * len(sections)
    body = bytearray()
    entries = []
    pos = (table_end + 15) // 16 * 16
    for kind, data in sections:
        entries.append((kind, zlib.crc32(data), pos, len(data)))
        body += b"\x00" * (pos - table_end - len(body)) + data
        pos = table_end + len(body)
        pos = (pos + 15) // 16 * 16
    total = table_end + len(body)
    table = b"".join(struct.pack("<IIQQ", *e) for e in entries)
    header = bytearray(MAGIC + struct.pack("<IIQI", VERSION, len(sections), total, 0))
    header += b"\x00" * (HEADER - len(header))
    crc = zlib.crc32(bytes(header) + table)
    header[24:28] = struct.pack("<I", crc)
    data = bytes(header) + table + bytes(body)
    assert len(data) == total
    if path:
        with open(path, "wb") as f:
            f.write(data)
    return data


def read_sections(data: bytes) -> dict:
    """Minimal reader for tests: {kind: bytes}, checking magic, CRCs and bounds."""
    assert data[:8] == MAGIC
    version, count, size, crc = struct.unpack_from("<IIQI", data, 8)
    assert version == VERSION and size == len(data)
    end = HEADER + ENTRY * count
    h = bytearray(data[:end])
    h[24:28] = b"\0\0\0\0"
    assert zlib.crc32(bytes(h)) == crc
    out = {}
    for i in range(count):
        kind, c, off, ln = struct.unpack_from("<IIQQ", data, HEADER + ENTRY * i)
        sec = data[off:off + ln]
        assert zlib.crc32(sec) == c
        out[kind] = sec
    return out
