import torch
import torch.nn.functional as F

from grdnet_train import losses


def test_ssim_identity_and_noise():
    torch.manual_seed(0)
    x = torch.rand(2, 1, 64, 64)
    assert abs(float(losses.ssim(x, x)) - 1) < 1e-5
    s1 = float(losses.ssim(x, (x + 0.05 * torch.randn_like(x)).clamp(0, 1)))
    s2 = float(losses.ssim(x, (x + 0.3 * torch.randn_like(x)).clamp(0, 1)))
    assert 1 > s1 > s2


def test_contextual_loss_zero_for_perfect_reconstruction():
    x = torch.randn(2, 1, 32, 32)
    m, s = torch.tensor(0.4).view(1, 1, 1, 1), torch.tensor(0.2).view(1, 1, 1, 1)
    assert float(losses.contextual_loss(x, x, s, m)) < 1e-5
    assert float(losses.contextual_loss(x, x + 1, s, m)) > 0.19  # L1 alone is 0.2


def test_focal_reduces_to_bce_and_downweights_easy_pixels():
    torch.manual_seed(1)
    logit = torch.randn(2, 1, 8, 8) * 3
    t = (torch.rand(2, 1, 8, 8) > 0.7).float()
    bce = F.binary_cross_entropy_with_logits(logit, t)
    assert torch.allclose(losses.focal_loss(logit, t, gamma=0.0), bce, atol=1e-6)
    assert float(losses.focal_loss(logit, t, gamma=2.0)) < float(bce)
    easy = losses.focal_loss(torch.full((1, 1, 4, 4), 4.0), torch.ones(1, 1, 4, 4))
    hard = losses.focal_loss(torch.full((1, 1, 4, 4), -4.0), torch.ones(1, 1, 4, 4))
    assert float(hard) > 100 * float(easy)
    a = losses.focal_loss(logit, t, alpha=0.25)
    assert 0 < float(a) < float(losses.focal_loss(logit, t))


def test_feature_matching_and_latent():
    f = torch.randn(2, 8, 4, 4)
    assert float(losses.feature_matching(f, f)) == 0
    g = torch.ones(2, 8, 4, 4)
    assert abs(float(losses.feature_matching(g, g + 1)) - 1) < 1e-5
    assert abs(float(losses.feature_matching(10 * g, 10 * g + 10)) - 1) < 1e-5  # scale-free
    assert float(losses.latent_loss(f, f + 0.5)) == 0.5
