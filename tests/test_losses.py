import numpy as np
import pytest

from audio.backend import keras
from audio.losses import (MseAndBalancedLoss, MseAndSilenceLoss, WaveformAndSpectrumLoss, build_loss,
                          multi_resolution_stft_distance, silent_stem_error,
                          stem_balanced_mse)
from common.errors import ConfigError

SR = 22050


def stems(seed=0, nb_samples=4096):
    """``(2, 3, nb_samples, 1)``: two examples of three sources, the third silent (an absent instrument)."""
    rng = np.random.default_rng(seed)
    t = np.arange(nb_samples) / SR
    tones = [0.3 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (220.0, 330.0)]
    example = np.stack([*tones, np.zeros(nb_samples)])[..., None]
    return np.stack([example, 0.5 * example]).astype("float32")


def distance(targets, estimates):
    return np.asarray(multi_resolution_stft_distance(keras.ops.convert_to_tensor(targets),
                                                     keras.ops.convert_to_tensor(estimates)))


def test_distance_is_zero_for_a_perfect_estimate_and_grows_with_the_error():
    targets = stems()
    assert distance(targets, targets) == pytest.approx([0, 0], abs=1e-5)
    slightly, badly = distance(targets, 1.1 * targets), distance(targets, 2.0 * targets)
    assert np.all(slightly > 1e-3) and np.all(badly > slightly)
    swapped = targets[:, [1, 0, 2]]  # each tone in the other's stem
    assert np.all(distance(targets, swapped) > badly)


def test_distance_ignores_phase_but_not_leakage_into_an_absent_source():
    targets = stems()
    inverted = -targets  # the same magnitudes: the spectral term alone cannot tell
    assert distance(targets, inverted) == pytest.approx([0, 0], abs=1e-4)
    leaked = targets.copy()
    leaked[:, 2] = 0.01 * targets[:, 0]  # -40 dB of a tone in the silent stem
    assert np.all(distance(targets, leaked) > 2 * distance(targets, 1.01 * targets))


def test_waveform_and_spectrum_loss_is_finite_on_silence_and_counts_both_terms():
    silence = np.zeros((2, 3, 4096, 1), "float32")
    loss = WaveformAndSpectrumLoss(stft_weight=1e-3)
    assert float(loss(silence, silence)) == pytest.approx(0.0, abs=1e-6)
    targets = stems()
    mse = float(np.mean(np.square(2 * targets)))  # estimates -targets: error 2 * targets
    spectral_only = WaveformAndSpectrumLoss(stft_weight=1.0)(targets, 1.1 * targets)
    assert float(loss(targets, -targets)) == pytest.approx(mse, rel=1e-3)
    assert float(spectral_only) > float(np.mean(np.square(0.1 * targets)))


def test_loss_round_trips_through_its_config_and_unknown_names_fail():
    loss = build_loss({"loss": "mse+stft", "stft_weight": 0.01})
    again = WaveformAndSpectrumLoss.from_config(loss.get_config())
    assert again.weight == 0.01
    assert build_loss({}) == "mse"
    with pytest.raises(ConfigError, match="unknown loss 'huber'"):
        build_loss({"loss": "huber"})
    with pytest.raises(ConfigError, match="at least 256 samples"):
        multi_resolution_stft_distance(stems(nb_samples=128), stems(nb_samples=128))


def test_the_balanced_loss_weighs_a_quiet_stems_error_by_its_own_energy():
    rng = np.random.default_rng(0)
    loud = rng.standard_normal((1, 1, 1000, 1)).astype(np.float32)
    quiet = 0.1 * rng.standard_normal((1, 1, 1000, 1)).astype(np.float32)
    targets = np.concatenate([loud, quiet], axis=1)
    miss_quiet = np.concatenate([loud, np.zeros_like(quiet)], axis=1)  # the quiet stem left out
    miss_loud_by_as_much = np.concatenate([loud - quiet, quiet], axis=1)  # the same error on the loud one
    plain_mse = [float(np.mean((targets - e) ** 2)) for e in (miss_quiet, miss_loud_by_as_much)]
    assert plain_mse[0] == pytest.approx(plain_mse[1])
    balanced = [float(stem_balanced_mse(targets, e)[0]) for e in (miss_quiet, miss_loud_by_as_much)]
    assert balanced[0] > 5 * balanced[1]
    assert float(stem_balanced_mse(targets, targets)[0]) == 0.0
    assert np.isfinite(float(stem_balanced_mse(np.zeros_like(targets), targets)[0]))


def test_mse_plus_a_share_of_the_balanced_loss_adds_the_two_terms_and_round_trips():
    targets = stems()
    estimates = targets[:, [0, 0, 2]]  # the second tone's stem holds the first tone
    mse = np.mean(np.square(targets - estimates), axis=(1, 2, 3))
    balanced = np.asarray(stem_balanced_mse(targets, estimates))
    loss = build_loss({"loss": "mse+balanced", "balanced_weight": 0.5})
    assert float(loss(targets, estimates)) == pytest.approx(float(np.mean(mse + 0.5 * balanced)), rel=1e-4)
    assert float(build_loss({"loss": "mse+balanced", "balanced_weight": 0})(targets, estimates)) == pytest.approx(
        float(np.mean(mse)), rel=1e-4)
    assert MseAndBalancedLoss.from_config(loss.get_config()).weight == 0.5
    assert build_loss({"loss": "mse+balanced"}).weight == 0.25
    with pytest.raises(ConfigError, match="training.balanced_weight must be a number >= 0, got -1"):
        build_loss({"loss": "mse+balanced", "balanced_weight": -1})


def test_the_silence_term_weighs_only_the_error_of_stems_that_should_be_silent():
    rng = np.random.default_rng(1)
    playing = rng.standard_normal((1, 2, 1000, 1)).astype(np.float32)
    targets = np.concatenate([playing, np.zeros((1, 1, 1000, 1), np.float32)], axis=1)  # third stem silent
    leak = 0.3 * playing[:, :1]
    leak_into_silent = np.concatenate([playing, leak], axis=1)
    leak_into_playing = np.concatenate([playing[:, :1], playing[:, 1:] + leak, np.zeros_like(leak)], axis=1)
    assert float(silent_stem_error(targets, leak_into_playing)[0]) == 0.0
    assert float(silent_stem_error(targets, leak_into_silent)[0]) == pytest.approx(
        float(np.mean(leak ** 2)) / 3, rel=1e-4)
    loss = build_loss({"loss": "mse+silence", "silence_weight": 4})
    same_mse = [float(np.mean((targets - e) ** 2)) for e in (leak_into_silent, leak_into_playing)]
    assert same_mse[0] == pytest.approx(same_mse[1])
    assert float(loss(targets, leak_into_silent)) == pytest.approx(5 * float(loss(targets, leak_into_playing)), rel=1e-4)
    assert MseAndSilenceLoss.from_config(loss.get_config()).weight == 4
    assert build_loss({"loss": "mse+silence"}).weight == 9
    with pytest.raises(ConfigError, match="training.silence_weight must be a number >= 0"):
        build_loss({"loss": "mse+silence", "silence_weight": "lots"})
