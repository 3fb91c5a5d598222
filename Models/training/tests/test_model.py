import torch
import torch.nn as nn

from grdnet_train.model import Discriminator, GRDNet, ModelConfig, count_macs


def test_shapes_mono_and_rgb():
    for c in (1, 3):
        m = GRDNet(ModelConfig(channels=c))
        xr, z, zr, logit = m(torch.randn(2, c, 128, 128))
        assert xr.shape == (2, c, 128, 128)
        assert z.shape == (2, 32, 8, 8) and zr.shape == z.shape  # fully convolutional bottleneck
        assert logit.shape == (2, 1, 128, 128)
        p, f = Discriminator(ModelConfig(channels=c))(xr)
        assert p.shape == (2,) and f.dim() == 4


def test_inference_is_fully_convolutional_and_in_unit_range():
    net = GRDNet(ModelConfig()).inference().eval()
    with torch.no_grad():
        for h, w in ((256, 256), (128, 192)):
            y = net(torch.randn(1, 1, h, w))
            assert y.shape == (1, 1, h, w)
            assert float(y.min()) >= 0 and float(y.max()) <= 1


def test_inference_budget_and_no_normalisation_layers():
    net = GRDNet(ModelConfig()).inference()
    macs = count_macs(net, (1, 1, 256, 256))
    assert 0.5e9 < macs <= 2.0e9, macs
    banned = (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm)
    assert not any(isinstance(m, banned) for m in net.modules())
    # training-only parts are not in the shipped graph
    names = {n for n, _ in net.named_modules()}
    assert not any("enc2" in n for n in names)


def test_count_macs_single_conv():
    conv = nn.Conv2d(3, 8, 3, 1, 1)
    assert count_macs(conv, (1, 3, 10, 10)) == 10 * 10 * 8 * 3 * 9
    up = nn.ConvTranspose2d(4, 2, 4, 2, 1)
    assert count_macs(up, (1, 4, 5, 5)) == 5 * 5 * 4 * 2 * 16
