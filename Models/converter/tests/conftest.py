"""Shared fixtures: the Swift CLI (built on demand) and helpers to export small PyTorch modules."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
CONVERTER = HERE.parent
ROOT = CONVERTER.parent.parent
sys.path.insert(0, str(CONVERTER))


@pytest.fixture(scope="session")
def grdnet_bin():
    """The grdnet CLI of this checkout: GRDNET_BIN, an existing debug build, or built now."""
    env = os.environ.get("GRDNET_BIN")
    if env:
        return env
    path = ROOT / ".build" / "debug" / "grdnet"
    if not path.exists():
        subprocess.run(["swift", "build", "--product", "grdnet"], cwd=ROOT, check=True)
    return str(path)


def export_module(module, path, h, w, c=1):
    import torch
    module.eval()
    torch.onnx.export(module, torch.zeros(1, c, h, w), str(path), input_names=["image"],
                      output_names=["out"], opset_version=17, dynamo=False)


def calibration_pixels(h, w, c=1, n=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, h, w, c), dtype=np.uint8)


def run_cli(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True)
