"""The Wiener post-filter (norbert's soft masks) on stems that leak into each other."""
import numpy as np
import pytest

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


def test_a_stereo_mixture_gives_stereo_stems_that_keep_each_instrument_where_it_was():
    low, high = sines()
    mixture = np.stack([low + 0.2 * high, 0.2 * low + high])  # the cello on the left, the violin on the right
    leaky = {"vc": (low + 0.3 * high)[None], "vn": (high + 0.3 * low)[None]}
    stereo = wiener_postfilter(mixture, leaky, SR)
    mono = wiener_postfilter(mixture.mean(axis=0, keepdims=True), leaky, SR)
    middle = slice(SR // 2, -SR // 2)
    assert stereo["vc"].shape == stereo["vn"].shape == mixture.shape
    np.testing.assert_allclose((stereo["vc"] + stereo["vn"])[:, middle], mixture[:, middle], atol=1e-3)
    for code in ("vc", "vn"):  # the downmix is the mono filter's stem
        np.testing.assert_allclose(stereo[code].mean(axis=0)[middle], mono[code][0, middle], atol=1e-4)
    cello_left, cello_right = np.sum(stereo["vc"][:, middle] ** 2, axis=1)
    violin_left, violin_right = np.sum(stereo["vn"][:, middle] ** 2, axis=1)
    assert cello_left > 20 * cello_right and violin_right > 20 * violin_left  # 25x in the mixture


def test_a_last_block_shorter_than_one_stft_window_is_filtered_too(monkeypatch):
    from audio import postfilter
    from audio.nmf import fft_size

    monkeypatch.setattr(postfilter, "BLOCK_S", 0.5)
    rng = np.random.default_rng(3)
    nb_samples = SR // 2 + fft_size(SR) // 3  # a 0.5 s block, then a sliver (once a traceback from scipy)
    mixture = rng.standard_normal((2, nb_samples)).astype(np.float32)
    stems = {code: rng.standard_normal((1, nb_samples)).astype(np.float32) for code in ("vn", "vc")}
    filtered = wiener_postfilter(mixture, stems, SR)
    assert filtered["vn"].shape == mixture.shape
    for channel in range(2):  # the stems add up to the mixture, the sliver included
        assert sdr(mixture[channel], (filtered["vn"] + filtered["vc"])[channel]) > 40
        assert sdr(mixture[channel, SR // 2:], (filtered["vn"] + filtered["vc"])[channel, SR // 2:]) > 40


def test_the_soft_masks_are_norberts_and_em_passes_go_through_norbert():
    import norbert

    from audio.postfilter import MASK_EPS, filtered_spectra

    rng = np.random.default_rng(4)
    power = (rng.standard_normal((3, 65, 40)) ** 2).astype(np.float32)
    power[:, :5] = 0  # bins where no source has power stay empty
    mix_spec = (rng.standard_normal((2, 65, 40)) + 1j * rng.standard_normal((2, 65, 40))).astype(np.complex64)
    ours = filtered_spectra(power, mix_spec)
    theirs = norbert.softmask(power.transpose(2, 1, 0)[:, :, None, :], mix_spec.transpose(2, 1, 0), eps=MASK_EPS)
    assert ours.shape == (3, 2, 65, 40) and ours.dtype == np.complex64
    np.testing.assert_allclose(ours, theirs.transpose(3, 2, 1, 0), rtol=1e-6, atol=1e-7)
    assert not ours[:, :, :5].any()
    refined = filtered_spectra(power, mix_spec, iterations=1)
    wiener = norbert.wiener(power.transpose(2, 1, 0)[:, :, None, :], mix_spec.transpose(2, 1, 0), iterations=1,
                            eps=MASK_EPS)
    assert refined.shape == ours.shape and not np.allclose(refined, ours)
    np.testing.assert_allclose(refined, wiener.transpose(3, 2, 1, 0), rtol=1e-5, atol=1e-6)


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


def test_separate_audio_gives_stereo_stems_of_a_stereo_input_through_the_filter(tmp_path, model_path):  # noqa: F811
    import soundfile

    from audio.io import write_audio
    from pipelines import separate_audio

    t = np.arange(2 * 22050) / 22050
    write_audio(tmp_path / "mix.wav", 0.3 * np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)]),
                22050)
    for flags, channels in (([], 2), (["--no-wiener"], 1)):
        out = tmp_path / f"out{channels}"
        assert separate_audio.main([str(tmp_path / "mix.wav"), "--instruments", "vn,vc", "--model", str(model_path),
                                    "--out", str(out), *flags]) == 0
        assert {soundfile.info(out / f"{code}.wav").channels for code in ("vn", "vc")} == {channels}


@pytest.mark.parametrize("extra", [37, -37])  # the stems' resamplers end a little long, or short
def test_a_stream_is_filtered_block_by_block_in_threads_as_the_whole_track_in_memory(monkeypatch, extra):
    import threading

    from audio import postfilter

    monkeypatch.setattr(postfilter, "BLOCK_S", 0.5)  # 5 blocks, the last one short
    sample_rate, rng = 8000, np.random.default_rng(1)
    mixture = rng.standard_normal((2, int(2.3 * sample_rate))).astype(np.float32)
    stems = {code: rng.standard_normal((1, mixture.shape[1] + extra)).astype(np.float32) for code in ("vn", "vc", "fl")}
    written, writing_threads = [], set()

    def write(filtered):
        written.append(filtered)
        writing_threads.add(threading.current_thread().name)

    with postfilter.StreamFilter(sample_rate, list(stems), write, workers=2) as stream:
        mixture_pieces = np.array_split(mixture, 7, axis=1)
        feeder = threading.Thread(target=lambda: [stream.add_mixture(piece) for piece in mixture_pieces])
        feeder.start()  # the mixture arrives from another thread, as from the job's decoding thread
        feeder.join()
        for first in range(0, mixture.shape[1] + extra, 1500):  # the network's pieces: another size
            stream.add_stems({code: stem[:, first:first + 1500] for code, stem in stems.items()})
        stream.finish(mixture.shape[1])
    fitted = {code: np.pad(stem, ((0, 0), (0, max(0, -extra))))[:, :mixture.shape[1]] for code, stem in stems.items()}
    block = int(0.5 * sample_rate)
    assert [piece["vn"].shape for piece in written] == [(2, block)] * 4 + [(2, mixture.shape[1] - 4 * block)]
    assert writing_threads == {threading.current_thread().name}  # written in order, by the caller
    for code in stems:
        expected = postfilter.wiener_postfilter(mixture, fitted, sample_rate)[code]
        np.testing.assert_allclose(np.concatenate([piece[code] for piece in written], axis=1), expected, atol=1e-6)


def test_a_stream_filter_needs_two_stems_and_the_whole_mixture():
    from audio.postfilter import StreamFilter

    with pytest.raises(ValueError, match="two stems"):
        StreamFilter(SR, ["vn"], print)
    with StreamFilter(SR, ["vn", "vc"], print) as stream:
        stream.add_mixture(np.zeros((1, 100), np.float32))
        with pytest.raises(ValueError, match="100 mixture samples, not 200"):
            stream.finish(200)


def sines(seconds=3):
    t = np.arange(seconds * SR) / SR
    return np.sin(2 * np.pi * 220 * t).astype(np.float32), np.sin(2 * np.pi * 1760 * t).astype(np.float32)


@pytest.fixture
def dictionaries(tmp_path):
    from audio.nmf import learn_dictionaries, save_dictionaries

    low, high = sines()
    path = tmp_path / "dictionaries.npz"
    save_dictionaries(path, learn_dictionaries({"vc": [low], "vn": [high]}, SR, rank=2, iterations=30), SR)
    return path


def test_an_nmf_blend_mixes_nmfs_stems_into_the_separators(dictionaries):
    from audio.postfilter import NmfBlend

    low, high = sines()
    mixture = (low + high)[None]
    swapped = {"vc": high[None], "vn": low[None], "fl": low[None]}  # a separator that got it all wrong
    nmf = NmfBlend(1.0, dictionaries)(mixture, swapped, SR)  # NMF alone: the separator's stems play no part
    middle = slice(SR // 2, -SR // 2)
    assert sdr(low[middle], nmf["vc"][0, middle]) > 15 and sdr(high[middle], nmf["vn"][0, middle]) > 15
    assert nmf["fl"] is swapped["fl"]  # no dictionary: left as it is
    resting = {"vc": np.concatenate([np.zeros(SR, np.float32), low[SR:]])[None], "vn": high[None]}
    blended = NmfBlend(0.5, dictionaries)(mixture, resting, SR)
    assert not np.any(blended["vc"][:, :SR]) and np.any(blended["vc"][:, SR:])  # silent while it rests
    quarter = NmfBlend(0.25, dictionaries)(mixture, swapped, SR)
    for code in ("vc", "vn"):
        np.testing.assert_allclose(quarter[code], 0.75 * swapped[code] + 0.25 * nmf[code], atol=1e-6)
    del swapped["fl"]
    filtered = wiener_postfilter(mixture, swapped, SR, blend=NmfBlend(0.75, dictionaries))
    assert sdr(low[middle], filtered["vc"][0, middle]) > sdr(low[middle], swapped["vc"][0, middle]) + 10


def test_a_bad_nmf_blend_is_a_one_line_error(dictionaries, tmp_path):
    from audio.postfilter import NmfBlend
    from common.errors import AvsepError

    for weight in (0.0, -0.5, 1.5):
        with pytest.raises(AvsepError, match="must be in"):
            NmfBlend(weight, dictionaries)
    with pytest.raises(AvsepError, match="no NMF dictionaries"):
        NmfBlend(0.25, tmp_path / "absent.npz")


def test_the_nmf_blend_is_on_by_default_only_for_named_instruments(tmp_path, model_path):  # noqa: F811
    import json

    from audio.io import write_audio
    from fusion.presence import Presence
    from pipelines import separate_audio

    t = np.arange(2 * 22050) / 22050
    write_audio(tmp_path / "mix.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 22050)
    Presence.constant(("vn", "vc")).save(tmp_path / "presence.json")  # as a sense would write it
    runs = {"named": ["--instruments", "vn,vc"], "named, off": ["--instruments", "vn,vc", "--nmf-blend", "0"],
            "named, unfiltered": ["--instruments", "vn,vc", "--no-wiener"],
            "from a file": ["--presence", str(tmp_path / "presence.json")]}
    postfilters = {}
    for name, options in runs.items():
        out = tmp_path / name.replace(", ", "-").replace(" ", "-")
        assert separate_audio.main([str(tmp_path / "mix.wav"), "--model", str(model_path), "--out", str(out),
                                    *options]) == 0
        postfilters[name] = json.loads((out / "manifest.json").read_text())["postfilter"]
    assert postfilters == {"named": "wiener (norbert soft masks), NMF blend 0.25",
                           "named, off": "wiener (norbert soft masks)", "named, unfiltered": None,
                           "from a file": "wiener (norbert soft masks)"}


def test_separate_audio_blends_nmf_on_request(tmp_path, model_path, capsys):  # noqa: F811
    import json

    from audio.io import write_audio
    from pipelines import separate_audio

    t = np.arange(2 * 22050) / 22050
    write_audio(tmp_path / "mix.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 22050)
    common = [str(tmp_path / "mix.wav"), "--instruments", "vn,vc", "--model", str(model_path)]
    assert separate_audio.main([*common, "--out", str(tmp_path / "out"), "--nmf-blend", "0.25"]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["postfilter"] == "wiener (norbert soft masks), NMF blend 0.25"
    capsys.readouterr()
    for bad in (["--nmf-blend", "0.25", "--no-wiener"], ["--nmf-blend", "1.5"]):
        assert separate_audio.main([*common, "--out", str(tmp_path / "bad"), *bad]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "nmf" in err.lower()
        assert not (tmp_path / "bad").exists()
