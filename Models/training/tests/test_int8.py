"""The fast int8 evaluator equals the converter's integer reference bit for bit."""
import numpy as np
import torch

from grdnet_train import int8
from grdnet_train.export import export_onnx
from grdnet_train.model import GRDNet, ModelConfig


def test_fast_int8_equals_reference(tmp_path):
    _, ref = int8._converter()  # Models/converter is part of the tree: its absence is a failure
    torch.manual_seed(0)
    cfg = ModelConfig(gen_widths=[4, 8, 8], z_channels=4, unet_widths=[4, 8, 8], disc_widths=[4])
    net = GRDNet(cfg).inference()
    path = str(tmp_path / "m.onnx")
    export_onnx(net, path, 1, 32)
    rng = np.random.default_rng(0)
    cal = rng.standard_normal((3, 1, 32, 32)).astype(np.float32)
    g, _ = int8.build_grdnet(path, str(tmp_path / "m.grdnet"), cal, [0.5], [0.25], None, None)
    px = rng.integers(0, 256, (3, 32, 32, 1), dtype=np.uint8)
    fast = int8.forward_int8_fast(g, px)
    for i in range(3):
        _, heat = ref.forward_int8(g, px[i])
        assert np.array_equal(fast[i], heat)
    maps, scores = int8.int8_maps_and_scores(g, list(px), batch=2)
    assert np.array_equal(maps, fast)
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))


def test_int8_scores_look_inside_each_roi_only(tmp_path):
    """A letterboxed frame's padding is outside the inspection ROI: the int8 score is the engine's
    score inside each image's own ROI, not the whole frame's."""
    _, ref = int8._converter()
    torch.manual_seed(0)
    cfg = ModelConfig(gen_widths=[4, 8, 8], z_channels=4, unet_widths=[4, 8, 8], disc_widths=[4])
    path = str(tmp_path / "m.onnx")
    export_onnx(GRDNet(cfg).inference(), path, 1, 32)
    rng = np.random.default_rng(1)
    g, _ = int8.build_grdnet(path, str(tmp_path / "m.grdnet"), rng.standard_normal((3, 1, 32, 32)).astype(np.float32),
                             [0.5], [0.25], None, None)
    px = rng.integers(0, 256, (2, 32, 32, 1), dtype=np.uint8)
    rois = np.zeros((2, 32, 32), np.uint8)
    rois[0, 8:24, 4:28] = 1
    rois[1, :, 10:20] = 1
    maps, whole = int8.int8_maps_and_scores(g, list(px))
    _, inside = int8.int8_maps_and_scores(g, list(px), rois=rois)
    for i in range(2):
        assert inside[i] == ref.score(maps[i], rois[i])
        assert inside[i] != whole[i]   # random weights: the map differs outside the ROI
    import pytest
    with pytest.raises(ValueError, match="1 ROIs for 2 images"):
        int8.int8_maps_and_scores(g, list(px), rois=rois[:1])
