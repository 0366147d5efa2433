"""The separation job end to end: media in, aligned stems and a manifest out, bad input in one line."""
import json

import numpy as np
import pytest
import soundfile

from audio.io import read_audio, write_audio
from conftest import ffmpeg
from fusion.presence import Presence
from model_helpers import passthrough, tiny
from pipelines import separate, separate_audio, separate_video


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A pass-through model at 22.05 kHz: every present stem is tanh(mix)."""
    path = tmp_path_factory.mktemp("model") / "passthrough.keras"
    passthrough(tiny(output_length=2000, sample_rate=22050)).save(path)
    return path


@pytest.fixture(scope="module")
def click_wav(tmp_path_factory):
    """44.1 kHz stereo: a smooth click at 1.0 s (a sine burst), 2.5 s long."""
    path = tmp_path_factory.mktemp("audio") / "clicks.wav"
    audio = np.zeros((2, int(2.5 * 44100)), dtype=np.float32)
    t = np.arange(-200, 201)
    audio[:, 44100 - 200:44100 + 201] = 0.4 * np.hanning(401) * np.cos(2 * np.pi * 1000 * t / 44100)
    write_audio(path, audio, 44100)
    return path


def test_audio_stems_are_aligned_and_exact_length(click_wav, model_path, tmp_path, capsys):
    out = tmp_path / "out"
    assert separate_audio.main([str(click_wav), "--instruments", "vn,vc", "--no-wiener", "--no-level-match",
                                "--model", str(model_path), "--out", str(out)]) == 0  # stems = tanh(mix) as it is
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "mixture.flac", "report.html", "vc.wav", "vn.wav"]
    mixture, rate = read_audio(click_wav)
    for code in ("vn", "vc"):
        stem, stem_rate = read_audio(out / f"{code}.wav")
        assert stem_rate == rate == 44100 and stem.shape == (1, mixture.shape[1])
        expected = np.tanh(mixture.mean(axis=0))
        lags = [np.dot(np.roll(stem[0], lag), expected) for lag in range(-3, 4)]
        assert int(np.argmax(lags)) == 3  # best alignment at lag 0
        assert np.abs(stem[0] - expected).max() < 0.02  # the 22.05 kHz model round trip keeps the burst
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["instruments"] == ["vn", "vc"] and manifest["nb_samples"] == mixture.shape[1]
    assert manifest["presence"]["source"] == "labels" and len(manifest["model"]["config_sha256"]) == 12
    assert "vn, vc" in capsys.readouterr().out


def test_presence_file_changes_over_time(model_path, tmp_path):
    t = np.arange(int(2.5 * 44100)) / 44100
    write_audio(tmp_path / "tone.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 44100)
    values = np.zeros((3, 13), dtype=np.float32)
    values[:2, 0] = 1.0  # violin at the rows for 0 s and 1 s, gone at 2 s
    values[:, 2] = 1.0
    Presence(np.array([0.0, 1.0, 2.0]), values, values.max(axis=0), 1.0, {}).save(tmp_path / "p.json")
    assert separate_audio.main([str(tmp_path / "tone.wav"), "--presence", str(tmp_path / "p.json"), "--no-wiener",
                                "--model", str(model_path), "--out", str(tmp_path / "out")]) == 0
    violin, _ = read_audio(tmp_path / "out" / "vn.wav")
    cello, _ = read_audio(tmp_path / "out" / "vc.wav")
    assert np.abs(violin[0, int(0.2 * 44100):int(1.2 * 44100)]).max() > 0.25  # present while the row says so
    assert np.abs(violin[0, int(1.7 * 44100):]).max() < 1e-3  # gated once the violin has gone
    assert np.abs(cello[0, int(1.7 * 44100):]).max() > 0.25
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["membership"] is None  # followed exactly


def test_window_presence_is_one_vector_only_when_every_row_agrees():
    values = np.zeros((3, 13), dtype=np.float32)
    values[:, 2] = 0.9
    values[:, 0] = [0.6, 0.8, 1.0]  # over the threshold throughout: the same hard labels
    held = separate.window_presence(Presence(np.array([0.0, 1.0, 2.0]), values, values.max(axis=0), 1.0, {}))
    assert held.shape == (13,) and held[0] == held[2] == 1.0 and held.sum() == 2
    values[2, 0] = 0.0  # the violin leaves at 2 s
    changing = separate.window_presence(Presence(np.array([0.0, 1.0, 2.0]), values, values.max(axis=0), 1.0, {}))
    rows = changing(np.array([0.2, 2.1]))
    assert rows.shape == (2, 13) and rows[0, 0] == 1.0 and rows[1, 0] == 0.0 and rows[1, 2] == 1.0


def test_video_with_labels_writes_stems_and_videos(sine_video, model_path, tmp_path):
    out = tmp_path / "sep"
    assert separate_video.main([str(sine_video), "--instruments", "fl", "--model", str(model_path),
                                "--out", str(out), "--videos"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["fl.mp4", "fl.wav", "manifest.json", "mixture.flac", "report.html"]
    from common.ffmpeg import probe_media

    info = probe_media(out / "fl.mp4")
    assert info.has_video and info.has_audio and info.width == 320
    stem, rate = read_audio(out / "fl.wav")
    mixture, _ = read_audio(sine_video)
    assert rate == 44100 and stem.shape[1] == mixture.shape[1]


def test_video_with_detector(sine_video, model_path, tmp_path):
    from vision.ultralytics_offline import load_yolo

    weights = tmp_path / "tiny.pt"
    load_yolo("yolov8n.yaml").save(weights)
    assert separate_video.main([str(sine_video), "--detector", str(weights), "--presence-from", "video",
                                "--model", str(model_path), "--out", str(tmp_path / "out")]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["presence"]["source"] == "video" and manifest["presence"]["frames_sampled"] == 3


@pytest.mark.parametrize("case", ["missing", "text_as_mp4", "silent_video", "unknown_code", "bad_model",
                                  "exists", "audio_for_detector"])
def test_bad_input_is_one_line_and_exit_2(case, request, sine_video, click_wav, model_path, tmp_path, capsys):
    video, extra = str(sine_video), ["--instruments", "vn"]
    model = str(model_path)
    if case == "missing":
        video = str(tmp_path / "absent.mp4")
    elif case == "text_as_mp4":
        video = str(request.getfixturevalue("text_as_mp4"))
    elif case == "silent_video":
        video = str(request.getfixturevalue("silent_video"))
    elif case == "unknown_code":
        extra = ["--instruments", "vn,piano"]
    elif case == "bad_model":
        model = str(tmp_path / "broken.keras")
        (tmp_path / "broken.keras").write_text("not a model")
    elif case == "exists":
        assert separate_video.main([video, *extra, "--model", model, "--out", str(tmp_path / "o")]) == 0
        before = (tmp_path / "o" / "vn.wav").read_bytes()
        capsys.readouterr()
    elif case == "audio_for_detector":
        video, extra = str(click_wav), ["--detector", "yolov8n.yaml", "--presence-from", "video"]
    assert separate_video.main([video, *extra, "--model", model, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    if case == "exists":
        assert "--force" in err and (tmp_path / "o" / "vn.wav").read_bytes() == before


def test_real_excerpt_is_separated_at_48k(model_path, tmp_path):
    from conftest import shared_file

    mix = shared_file("data/urmp_excerpts/reference/12_mix.wav")
    assert separate_audio.main([str(mix), "--instruments", "vn,vc", "--model", str(model_path),
                                "--out", str(tmp_path)]) == 0
    info = soundfile.info(tmp_path / "vn.wav")
    assert info.samplerate == 48000 and info.frames == soundfile.info(mix).frames


def test_presence_from_the_senses_is_held_over_rests(model_path, tmp_path):
    t = np.arange(int(4.5 * 44100)) / 44100
    write_audio(tmp_path / "tone.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 44100)
    values = np.zeros((5, 13), dtype=np.float32)
    values[:2, 0] = 0.9  # the violin heard at 0 s and 1 s only
    values[:, 2] = 0.9
    heard = Presence(np.arange(5.0), values, values.max(axis=0), 1.0, {"source": "audio"})
    from audio.separator import Separator
    from pipelines.separate import separate_media

    manifest = separate_media(tmp_path / "tone.wav", tmp_path / "out", Separator(model_path, level_match=False), heard)
    violin, _ = read_audio(tmp_path / "out" / "vn.wav")
    assert np.abs(violin[0, int(3.2 * 44100):]).max() > 0.25  # still told it plays: its rests are the network's
    assert manifest["membership"]["hold_s"] == 15.0
    assert "within 15 s of where presence reached 0.5" in (tmp_path / "out" / "report.html").read_text()


def test_instruments_the_senses_doubt_are_named_with_the_command_that_adds_one(click_wav, model_path, tmp_path,
                                                                                monkeypatch, capsys):
    import pipelines.separate

    clip = np.zeros(13, dtype=np.float32)
    clip[[0, 1, 5, 9, 12]] = [0.9, 0.3, 0.1, 0.45, 0.49]  # vn heard; va, tpt, tba doubtful; ob ruled out
    heard = Presence(np.array([0.0]), clip[None], clip, 1.0, {"source": "audio", "unsure_gain": 1.25})
    assert heard.doubtful_codes() == (("tba", pytest.approx(0.49)), ("tpt", pytest.approx(0.45)),
                                      ("va", pytest.approx(0.3)))
    assert heard.doubtful_codes(limit=1, low=0.46) == (("tba", pytest.approx(0.49)),)
    monkeypatch.setattr(pipelines.separate, "resolve_presence", lambda media, *args, **kwargs: heard)
    arguments = [str(click_wav), "--model", str(model_path), "--no-wiener", "--out", str(tmp_path / "out")]
    assert separate_audio.main(arguments) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == ("unsure of: tba 0.49, tpt 0.45, va 0.30 (below 0.5); if one of them plays, "
                         "run again with --instruments vn,tba (and --force)")
    report = (tmp_path / "out" / "report.html").read_text()
    assert "Unsure of: tba 0.49, tpt 0.45, va 0.30" in report and "presence scaled 1.25x" in report
    assert heard.doubtful_codes(exclude=("tba", "va")) == (("tpt", pytest.approx(0.45)),)
    monkeypatch.undo()  # the labels given: nothing to doubt
    assert separate_audio.main([*arguments, "--instruments", "vn", "--force"]) == 0
    assert "unsure" not in capsys.readouterr().out
    assert "Unsure" not in (tmp_path / "out" / "report.html").read_text()
