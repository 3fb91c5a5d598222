"""Guest-side driver for Tests/arm64/instructions (runs on aarch64 under qemu-user, in the peer
root file system): one int8 model in LiteRT (XNNPACK) or ONNX Runtime, 1 thread, two inferences
of the same frame. Marker system calls close(-1000 - k) (harmless: EBADF) let the insnwindow
plugin snapshot its counters:
  m0 numpy imported | m1 runtime imported | m2 model loaded, input set | m3 after the 1st
  inference (warm-up) | m4 after the 2nd inference  ->  window m3..m4 = one steady-state frame.
The frame is a float model input (1x1xHxW, normalised units). ONNX Runtime's QDQ model takes it
as is (float in -> float map out: the window includes QuantizeLinear/DequantizeLinear); the LiteRT
model has int8 input and output (litert-torch), so the frame is quantised before the window.
usage: python3 peer_infer.py litert|ort MODEL MAPS_OUT"""
import hashlib
import os
import sys


def mark(k):
    try:
        os.close(-1000 - k)
    except OSError:
        pass


import numpy as np  # noqa: E402  (after the helper: m0 is taken once numpy is in)

rt, model, maps_out = sys.argv[1], sys.argv[2], sys.argv[3]
mark(0)
if rt == "litert":
    from ai_edge_litert.interpreter import Interpreter
    mark(1)
    it = Interpreter(model_path=model, num_threads=1)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    x = np.random.default_rng(1).standard_normal(tuple(i["shape"])).astype(np.float32)
    if i["dtype"] != np.float32:  # int8 input: quantise with the model's own scale/zero point
        sc, zp = i["quantization"]
        x = np.clip(np.round(x / sc + zp), -128, 127).astype(i["dtype"])
    it.set_tensor(i["index"], x)
    run = it.invoke

    def get():
        return it.get_tensor(o["index"])
    where = "in %s %s, out %s %s" % (i["dtype"].__name__, list(i["shape"]), o["dtype"].__name__, list(o["shape"]))
else:
    import onnxruntime as ort
    mark(1)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    inp = s.get_inputs()[0]
    x = np.random.default_rng(1).standard_normal(tuple(inp.shape)).astype(np.float32)
    feed = {inp.name: x}
    out = [None]

    def run():
        out[0] = s.run(None, feed)[0]

    def get():
        return out[0]
    where = "in %s %s, out %s" % (inp.type, inp.shape, s.get_outputs()[0].type)
mark(2)
run()
mark(3)
run()
mark(4)
y = get()
print(rt, where, "map sha1", hashlib.sha1(np.ascontiguousarray(y).tobytes()).hexdigest()[:12], flush=True)
with open(maps_out, "w") as f:
    f.write(open("/proc/self/maps").read())
