"""Input level matching: the level of a mixture, and a separator that hears every input at its training level."""
import json

import numpy as np
import pytest

from audio.io import read_audio, write_audio
from audio.level import (DEFAULT_TRAINING_LEVEL_DB, MAX_GAIN_DB, LevelMeter, examples_level_db, level_db,
                         matching_gain_db, media_level_db)
from audio.separator import Separator
from fusion.instruments import presence_vector
from model_helpers import passthrough, randomize_weights, tiny
from pipelines import separate_audio

RATE = 8000


def sine(seconds, amplitude, rate=RATE, hz=440.0):
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_level_of_a_sine_is_its_rms():
    stereo = np.stack([sine(3, 0.1), sine(3, 0.1)])
    assert level_db(stereo, RATE) == pytest.approx(20 * np.log10(0.1 / np.sqrt(2)), abs=0.01)


def test_pauses_do_not_pull_the_level_down_and_silence_has_none():
    tone = sine(2, 0.1)[None]
    with_pause = np.concatenate([tone, np.zeros((1, 5 * RATE), np.float32)], axis=1)
    assert level_db(with_pause, RATE) == pytest.approx(level_db(tone, RATE), abs=1e-6)
    assert level_db(np.zeros((2, 3 * RATE), np.float32), RATE) is None
    assert level_db(np.full((1, 2 * RATE), np.nan, np.float32), RATE) is None


def test_blocks_of_any_size_give_the_level_of_the_whole():
    signal = np.random.default_rng(0).normal(0, 0.05, (2, int(7.3 * RATE))).astype(np.float32)
    signal[:, 2 * RATE:4 * RATE] *= 8  # a loud passage, so the median is not any window's
    meter = LevelMeter(RATE)
    for start in range(0, signal.shape[1], 3001):
        meter.push(signal[:, start:start + 3001])
    assert meter.level_db() == pytest.approx(level_db(signal, RATE), abs=1e-9)


def test_an_input_shorter_than_a_window_has_a_level():
    assert level_db(sine(0.3, 0.2)[None], RATE) == pytest.approx(20 * np.log10(0.2 / np.sqrt(2)), abs=0.05)


def test_training_level_is_the_median_of_the_examples_that_sound():
    rows = np.stack([sine(1.1, amplitude) for amplitude in (0.01, 0.1, 0.1, 0.3)] + [np.zeros(8800, np.float32)] * 3)
    assert examples_level_db(rows) == pytest.approx(20 * np.log10(0.1 / np.sqrt(2)), abs=0.01)
    assert examples_level_db(np.zeros((4, 100), np.float32)) is None


def test_matching_gain_reaches_the_target_within_its_limit():
    assert matching_gain_db(-30.0, -21.6) == pytest.approx(8.4)
    assert matching_gain_db(-100.0, -21.6) == MAX_GAIN_DB
    assert matching_gain_db(None, -21.6) == 0.0


def test_media_level_is_the_level_of_its_samples(tmp_path):
    audio = np.stack([sine(4, 0.03), sine(4, 0.01, hz=660.0)])
    write_audio(tmp_path / "quiet.wav", audio, RATE)
    assert media_level_db(tmp_path / "quiet.wav") == pytest.approx(level_db(audio, RATE), abs=0.01)


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    """A tiny Wave-U-Net with random weights: nonlinear, so its stems depend on the input's level."""
    path = tmp_path_factory.mktemp("model") / "random.keras"
    randomize_weights(tiny(output_length=500, sample_rate=8000)).save(path)
    return path


def test_a_matched_separator_gives_scaled_stems_for_a_scaled_input(random_model):
    mixture = np.random.default_rng(1).normal(0, 0.05, (1, 3 * RATE)).astype(np.float32)
    presence = presence_vector(("vn", "vc"))
    matched, unmatched = Separator(random_model), Separator(random_model, level_match=False)
    gain = np.float32(10 ** (-12 / 20))
    quiet, loud = matched.separate(mixture * gain, RATE, presence), matched.separate(mixture, RATE, presence)
    for code in ("vn", "vc"):
        np.testing.assert_allclose(quiet[code], gain * loud[code], atol=1e-4 * np.abs(loud[code]).max())
    quiet, loud = unmatched.separate(mixture * gain, RATE, presence), unmatched.separate(mixture, RATE, presence)
    assert not np.allclose(quiet["vn"], gain * loud["vn"], atol=1e-2 * np.abs(loud["vn"]).max())


def test_the_training_level_comes_from_the_card(random_model, tmp_path):
    assert Separator(random_model).training_level_db == DEFAULT_TRAINING_LEVEL_DB
    path = tmp_path / "carded.keras"
    path.write_bytes(random_model.read_bytes())
    path.with_suffix(".json").write_text(json.dumps({"data": {"input_level_db": -18.0}}))
    separator = Separator(path)
    assert separator.training_level_db == -18.0 and separator.input_gain_db(-30.0) == pytest.approx(12.0)
    assert Separator(path, level_match=False).input_gain_db(-30.0) == 0.0


def test_streamed_separation_applies_the_same_gain(random_model):
    mixture = np.random.default_rng(2).normal(0, 0.01, (2, int(2.7 * RATE))).astype(np.float32)
    separator, indices = Separator(random_model), [0, 2]
    presence = presence_vector(("vn", "vc"))
    whole = separator.separate(mixture, RATE, presence)
    blocks = (mixture[:, start:start + 5000] for start in range(0, mixture.shape[1], 5000))
    pieces = list(separator.separate_stream(blocks, RATE, presence, indices, level=level_db(mixture, RATE)))
    for code in ("vn", "vc"):
        streamed = np.concatenate([piece[code] for piece in pieces], axis=1)[:, :mixture.shape[1]]
        np.testing.assert_allclose(streamed, whole[code], atol=1e-4 * np.abs(whole[code]).max())


def test_the_job_records_and_undoes_the_gain(tmp_path):
    """A pass-through model (stems = tanh(mix)): matched, a quiet file's stems are the loud file's, scaled."""
    model = tmp_path / "passthrough.keras"
    passthrough(tiny(output_length=2000, sample_rate=22050)).save(model)
    tone = np.stack([sine(2, 0.5, rate=44100), sine(2, 0.5, rate=44100)])
    stems = {}
    for name, gain_db in (("loud", 0.0), ("quiet", -20.0)):
        write_audio(tmp_path / f"{name}.wav", tone * np.float32(10 ** (gain_db / 20)), 44100)
        out = tmp_path / f"out-{name}"
        assert separate_audio.main([str(tmp_path / f"{name}.wav"), "--instruments", "vn", "--no-wiener",
                                    "--model", str(model), "--out", str(out)]) == 0
        manifest = json.loads((out / "manifest.json").read_text())
        expected_level = 20 * np.log10(0.5 / np.sqrt(2)) + gain_db
        assert manifest["input_level"]["level_dbfs"] == pytest.approx(expected_level, abs=0.02)
        assert manifest["input_level"]["gain_db"] == pytest.approx(DEFAULT_TRAINING_LEVEL_DB - expected_level,
                                                                   abs=0.02)
        stems[name] = read_audio(out / "vn.wav")[0]
    np.testing.assert_allclose(stems["quiet"], stems["loud"] * 0.1, atol=2e-4)
