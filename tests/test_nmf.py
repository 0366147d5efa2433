"""Supervised NMF (audio/nmf.py): the precision of its updates, the dictionaries it loads, its per-piece oracle."""
import numpy as np

import pipelines.baselines as baselines
from audio.nmf import kl_nmf, load_dictionaries, piece_dictionary_nmf, save_dictionaries
from pipelines.evaluate import evaluate


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


def harmonic_tone(f0, amplitudes, seconds, sample_rate):
    """A steady tone of ``f0`` Hz whose k-th harmonic has ``amplitudes[k - 1]``: one timbre."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return sum(a * np.sin(2 * np.pi * f0 * k * t) for k, a in enumerate(amplitudes, start=1)).astype(np.float32)


def snr_db(reference, estimate):
    return 10 * np.log10(np.sum(reference ** 2) / np.sum((reference - estimate) ** 2))


def test_dictionaries_from_the_piece_itself_separate_two_timbres_the_mixture_holds_at_equal_level():
    rate = 8000
    bright = harmonic_tone(200, [0.3, 0.25, 0.2, 0.15], 2.0, rate)
    hollow = harmonic_tone(310, [0.4, 0.0, 0.15, 0.0, 0.1], 2.0, rate)
    hollow[: rate // 2] = 0  # it enters after half a second
    found = piece_dictionary_nmf(bright + hollow, rate, {"vn": bright, "cl": hollow}, rank=4)
    assert set(found) == {"vn", "cl"}
    for code, reference in (("vn", bright), ("cl", hollow)):
        assert snr_db(reference, found[code][:len(reference)]) > 10  # the mixture itself: ~0 dB
    assert snr_db(bright, bright + hollow) < 3


def test_the_oracle_baseline_writes_every_piece_and_scores_far_above_the_mixture(dataset, tmp_path):
    oracle = tmp_path / "oracle"
    assert baselines.main(["estimate", "nmf-oracle", "--references", str(dataset), "--out", str(oracle)]) == 0
    baselines.estimate("mixture", dataset, tmp_path / "mixture")
    scores = evaluate(dataset, [("oracle", oracle), ("mixture", tmp_path / "mixture")],
                      tmp_path / "scores")["systems"]
    assert sorted(p.name for p in oracle.iterdir()) == sorted(p.name for p in (tmp_path / "mixture").iterdir())
    assert scores["oracle"]["mean"]["SDR"] > scores["mixture"]["mean"]["SDR"] + 10
