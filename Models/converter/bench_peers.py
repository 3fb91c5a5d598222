#!/usr/bin/env python3
"""Peers for `grdnet bench`: the same network in ONNX Runtime (fp32, and int8 QDQ quantised
with onnxruntime.quantization: per-channel int8 weights, int8 activations, calibrated on the same
kind of frames) and in PyTorch fp32 (TorchScript file), at given thread counts.
Prints one JSON object: {"onnxruntime_fp32": {"1": {"median_ms": .., "cpu_ms": ..}, ...},
"onnxruntime_int8_qdq": ..., "pytorch_fp32": ...}; a peer that cannot run is {"error": "..."}.
cpu_ms is the median process CPU time per run: on a shared, oversubscribed machine wall time
mostly measures waiting, CPU time what the run cost. ONNX Runtime's thread spinning is turned
off so that its CPU time is work, as it is for grdnet's condition-variable pool.

usage: bench_peers.py --onnx M.onnx [--torchscript M.pt] --threads 1 2 [--runs 20]"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np


def median_ms(fn, runs, warmup=3):
    for _ in range(warmup):
        fn()
    times, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        fn()
        cpu.append((time.process_time() - c) * 1e3)
        times.append((time.perf_counter() - t) * 1e3)
    return {"median_ms": statistics.median(times), "cpu_ms": statistics.median(cpu)}


def ort_session(path, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def quantise_qdq(src, dst, shape, frames):
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"image": f} for f in frames])

        def get_next(self):
            return next(self.it, None)

    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--torchscript")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--runs", type=int, default=20)
    a = ap.parse_args(argv)
    out = {}
    try:
        import onnx
        m = onnx.load(a.onnx)
        dims = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
        rng = np.random.default_rng(0)
        x = rng.normal(0, 1, dims).astype(np.float32)
        frames = [rng.normal(0, 1, dims).astype(np.float32) for _ in range(4)]
    except Exception as e:  # noqa: BLE001 - report, do not crash the bench
        print(json.dumps({"error": f"cannot read {a.onnx}: {e}"}))
        return 1
    try:
        out["onnxruntime_fp32"] = {str(t): median_ms(lambda s=ort_session(a.onnx, t): s.run(None, {"image": x}), a.runs)
                                   for t in a.threads}
    except Exception as e:  # noqa: BLE001
        out["onnxruntime_fp32"] = {"error": str(e)}
    try:
        with tempfile.TemporaryDirectory() as d:
            q = os.path.join(d, "qdq.onnx")
            quantise_qdq(a.onnx, q, dims, frames)
            out["onnxruntime_int8_qdq"] = {str(t): median_ms(lambda s=ort_session(q, t): s.run(None, {"image": x}), a.runs)
                                           for t in a.threads}
    except Exception as e:  # noqa: BLE001
        out["onnxruntime_int8_qdq"] = {"error": str(e)}
    if a.torchscript and os.path.exists(a.torchscript):
        try:
            import torch
            net = torch.jit.load(a.torchscript).eval()
            xt = torch.from_numpy(x)
            res = {}
            for t in a.threads:
                torch.set_num_threads(t)
                with torch.inference_mode():
                    res[str(t)] = median_ms(lambda: net(xt), a.runs)
            out["pytorch_fp32"] = res
        except Exception as e:  # noqa: BLE001
            out["pytorch_fp32"] = {"error": str(e)}
    else:
        out["pytorch_fp32"] = {"error": "no TorchScript file (give --torchscript M.pt)"}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
