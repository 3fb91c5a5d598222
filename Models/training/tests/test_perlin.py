import numpy as np

from grdnet_train.perlin import perlin_2d, perlin_mask


def test_noise_shape_range_and_determinism():
    for res in ((1, 1), (4, 8), (32, 32)):
        a = perlin_2d((128, 96), res, np.random.default_rng(3))
        b = perlin_2d((128, 96), res, np.random.default_rng(3))
        assert a.shape == (128, 96) and a.dtype == np.float32
        assert np.array_equal(a, b)
        assert np.abs(a).max() <= np.sqrt(2) + 1e-5
    c = perlin_2d((64, 64), (4, 4), np.random.default_rng(4))
    assert not np.array_equal(c, perlin_2d((64, 64), (4, 4), np.random.default_rng(3)))


def test_noise_is_zero_on_lattice_points():
    a = perlin_2d((64, 64), (4, 4), np.random.default_rng(0))
    assert np.allclose(a[::16, ::16], 0, atol=1e-6)


def test_finer_scale_has_higher_frequency():
    def roughness(res):
        vals = []
        for s in range(5):
            a = perlin_2d((128, 128), (res, res), np.random.default_rng(s))
            vals.append(np.abs(np.diff(a, axis=1)).mean())
        return np.mean(vals)
    assert roughness(1) < roughness(4) < roughness(32)


def test_mask_binary_min_area_and_varied():
    rng = np.random.default_rng(0)
    areas = []
    for _ in range(30):
        m = perlin_mask((128, 128), rng, min_area=50)
        assert set(np.unique(m)) <= {0.0, 1.0}
        assert m.sum() >= 50
        areas.append(m.sum())
    assert np.std(areas) > 0
    assert max(areas) < 128 * 128 * 0.8  # threshold 0.5 keeps masks partial
