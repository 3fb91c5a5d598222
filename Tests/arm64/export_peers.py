#!/usr/bin/env python3
"""The peers' int8 models for Tests/arm64/instructions, made from the same fp32 weights as the
shipped .grdnet (Models/<name>.onnx, the same graph in fp32):

  <out>/<name>_int8_qdq.onnx   ONNX Runtime: quantize_static, QDQ, per-channel int8 weights,
                               int8 activations (as `grdnet bench`'s peer does, bench_peers.py)
  <out>/<name>_int8.tflite     LiteRT: the ONNX graph rebuilt as a PyTorch module (its own
                               initializers as parameters), quantised with PT2E (per-channel
                               symmetric int8 weights, int8 activations) and converted by litert-torch

Both are calibrated on the same frames: the sample images in Models/samples/<name> (grey,
resized to the model's size, normalised as the sidecar says), else random normal frames.
ONNX Runtime's model keeps float in -> float map out (Quantize/DequantizeLinear inside); the
.tflite that litert-torch writes has int8 input and int8 map output.
usage: export_peers.py MODEL.onnx SIDECAR.json SAMPLES_DIR OUT_DIR"""
import glob
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def frames(sidecar, samples, shape, n=8):
    meta = json.load(open(sidecar))
    mean, std = np.array(meta["mean"], np.float32), np.array(meta["std"], np.float32)
    _, c, h, w = shape
    files = sorted(glob.glob(os.path.join(samples, "*.jpg")) + glob.glob(os.path.join(samples, "*.png")))[:n]
    out = []
    try:
        from PIL import Image
        for f in files:
            im = Image.open(f).convert("L" if c == 1 else "RGB").resize((w, h), Image.BILINEAR)
            a = np.asarray(im, np.float32).reshape(h, w, c).transpose(2, 0, 1) / 255.0
            out.append(((a - mean[:, None, None]) / std[:, None, None])[None].astype(np.float32))
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    while len(out) < 4:
        out.append(rng.standard_normal(shape).astype(np.float32))
    return out


def torch_module(model):
    """The ONNX graph (Conv, ConvTranspose, LeakyRelu, Relu, Add, Concat, MaxPool, Sigmoid) as a
    torch.nn.Module whose parameters are the ONNX initializers."""
    import torch
    import torch.nn.functional as F
    g = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}

    def attrs(n):
        return {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}

    class OnnxGraph(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.names = {}
            self.params = torch.nn.ParameterList()
            for k, v in inits.items():
                self.names[k] = len(self.params)
                self.params.append(torch.nn.Parameter(torch.from_numpy(v.copy()), requires_grad=False))
            self.nodes = [(n.op_type, list(n.input), list(n.output), attrs(n)) for n in g.node]
            self.inp, self.out = g.input[0].name, g.output[0].name

        def t(self, env, name):
            return env[name] if name in env else self.params[self.names[name]]

        def forward(self, x):
            env = {self.inp: x}
            for op, ins, outs, a in self.nodes:
                v = [self.t(env, i) for i in ins if i]
                if op in ("Conv", "ConvTranspose"):
                    p = a.get("pads", [0, 0, 0, 0])
                    s = tuple(a.get("strides", [1, 1]))
                    b = v[2] if len(v) > 2 else None
                    if op == "Conv":
                        xin, pad = v[0], (p[0], p[1])
                        if p[0] != p[2] or p[1] != p[3]:
                            xin, pad = F.pad(v[0], (p[1], p[3], p[0], p[2])), (0, 0)
                        r = F.conv2d(xin, v[1], b, s, pad, tuple(a.get("dilations", [1, 1])), a.get("group", 1))
                    else:
                        assert p[0] == p[2] and p[1] == p[3], "asymmetric ConvTranspose pads"
                        r = F.conv_transpose2d(v[0], v[1], b, s, (p[0], p[1]), tuple(a.get("output_padding", [0, 0])),
                                               a.get("group", 1))
                elif op == "LeakyRelu":
                    r = F.leaky_relu(v[0], a.get("alpha", 0.01))
                elif op == "Relu":
                    r = F.relu(v[0])
                elif op == "Sigmoid":
                    r = torch.sigmoid(v[0])
                elif op == "Add":
                    r = v[0] + v[1]
                elif op == "Concat":
                    r = torch.cat(v, a["axis"])
                elif op == "MaxPool":
                    p = a.get("pads", [0, 0, 0, 0])
                    r = F.max_pool2d(v[0], tuple(a["kernel_shape"]), tuple(a.get("strides", a["kernel_shape"])), (p[0], p[1]))
                else:
                    raise ValueError(f"op {op} is not supported by the ONNX -> PyTorch rebuild")
                env[outs[0]] = r
            return env[self.out]

    return OnnxGraph().eval()


def export_qdq(src, dst, calib):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    name = onnx.load(src).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{name: f} for f in calib])

        def get_next(self):
            return next(self.it, None)

    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)


def export_tflite(model, dst, calib):
    import torch
    import litert_torch
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    from litert_torch.quantize.quant_config import QuantConfig
    try:
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    except ImportError:
        from torch.ao.quantization.quantize_pt2e import convert_pt2e, prepare_pt2e
    net = torch_module(model)
    sample = (torch.from_numpy(calib[0]),)
    with torch.no_grad():
        ref = net(*sample).numpy()
        quantizer = PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))
        m = torch.export.export(net, sample).module()
        m = prepare_pt2e(m, quantizer)
        for f in calib:
            m(torch.from_numpy(f))
        m = convert_pt2e(m, fold_quantize=False)
        q = m(*sample).numpy()
    edge = litert_torch.convert(m, sample, quant_config=QuantConfig(pt2e_quantizer=quantizer))
    edge.export(dst)
    return float(np.abs(q - ref).max())


def main():
    src, sidecar, samples, out = sys.argv[1:5]
    os.makedirs(out, exist_ok=True)
    model = onnx.load(src)
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    calib = frames(sidecar, samples, shape)
    base = os.path.join(out, os.path.splitext(os.path.basename(src))[0])
    export_qdq(src, base + "_int8_qdq.onnx", calib)
    print(f"wrote {base}_int8_qdq.onnx (ONNX Runtime QDQ, {len(calib)} calibration frames)")
    err = export_tflite(model, base + "_int8.tflite", calib)
    print(f"wrote {base}_int8.tflite (litert-torch PT2E int8; fake-quantised map vs fp32 max |diff| {err:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
