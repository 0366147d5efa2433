"""The Wiener post-filter (norbert) on stems that leak into each other."""
import numpy as np

from audio.postfilter import wiener_postfilter
from test_separate import model_path  # noqa: F401  (the pass-through model fixture)

SR = 16000


def sdr(reference, estimate):
    return 10 * np.log10(np.sum(reference ** 2) / np.sum((reference - estimate) ** 2))


def test_wiener_postfilter_reduces_leakage_and_the_stems_add_up_to_the_mixture():
    t = np.arange(3 * SR) / SR
    low, high = np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 1760 * t)
    mixture = (low + high)[None].astype(np.float32)
    leaky = {"vc": (low + 0.3 * high)[None].astype(np.float32), "vn": (high + 0.3 * low)[None].astype(np.float32)}
    filtered = wiener_postfilter(mixture, leaky, SR)
    assert set(filtered) == {"vc", "vn"} and filtered["vc"].shape == mixture.shape
    middle = slice(SR // 2, -SR // 2)  # away from the STFT's edges
    for code, truth in (("vc", low), ("vn", high)):  # 0.3 leakage: 10.5 dB before, ~21 dB after
        assert sdr(truth[middle], filtered[code][0, middle]) > sdr(truth[middle], leaky[code][0, middle]) + 8
    np.testing.assert_allclose((filtered["vc"] + filtered["vn"])[0, middle], mixture[0, middle], atol=1e-3)


def test_a_single_stem_is_left_as_it_is():
    stem = {"vn": np.ones((1, SR), np.float32)}
    assert wiener_postfilter(np.zeros((2, SR), np.float32), stem, SR) is stem


def test_separate_audio_applies_it_on_request(tmp_path, model_path):  # noqa: F811
    import json

    from audio.io import write_audio
    from pipelines import separate_audio

    t = np.arange(2 * 22050) / 22050
    write_audio(tmp_path / "mix.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 22050)
    assert separate_audio.main([str(tmp_path / "mix.wav"), "--instruments", "vn,vc", "--model", str(model_path),
                                "--out", str(tmp_path / "out")]) == 0  # on by default
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["postfilter"].startswith("wiener")
    assert separate_audio.main([str(tmp_path / "mix.wav"), "--instruments", "vn,vc", "--model", str(model_path),
                                "--out", str(tmp_path / "plain"), "--no-wiener"]) == 0
    assert json.loads((tmp_path / "plain" / "manifest.json").read_text())["postfilter"] is None
