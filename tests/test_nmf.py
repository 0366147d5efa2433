"""Supervised NMF (audio/nmf.py): the precision of its updates and the dictionaries it loads."""
import numpy as np

from audio.nmf import kl_nmf, load_dictionaries, save_dictionaries


def test_loaded_dictionaries_have_no_subnormal_values_and_keep_the_others(tmp_path):
    templates = np.array([[0.5, 1e-45], [3e-39, 0.25], [0.0, 2e-38]], np.float32)  # two subnormals, 2e-38 is normal
    save_dictionaries(tmp_path / "d.npz", {"vn": templates}, 22050)
    dictionaries, sample_rate = load_dictionaries(tmp_path / "d.npz")
    assert sample_rate == 22050 and dictionaries["vn"].dtype == np.float32
    np.testing.assert_array_equal(dictionaries["vn"], np.array([[0.5, 0], [0, 0.25], [0, 2e-38]], np.float32))


def test_fixed_float32_templates_update_in_float32_and_learning_in_double_precision():
    rng = np.random.default_rng(0)
    templates = rng.uniform(0.1, 1, (20, 3)).astype(np.float32)
    activations = rng.uniform(0, 1, (3, 50)).astype(np.float32)
    magnitude = templates @ activations
    _, found = kl_nmf(magnitude, templates=templates, iterations=300)
    assert found.dtype == np.float32
    np.testing.assert_allclose(templates @ found, magnitude, rtol=0.02, atol=1e-3)  # explained in single precision
    learned, weights = kl_nmf(magnitude, rank=3, iterations=10)
    assert learned.dtype == weights.dtype == np.float64
