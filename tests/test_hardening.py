"""A careful user's and an attacker's inputs to the separation CLIs: users' files, bad audio, bad presence."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audio.io import read_audio, write_audio
from common.files import exchange
from fusion.presence import Presence
from pipelines import separate_audio, separate_video
from test_separate import model_path  # noqa: F401  (the pass-through model fixture)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tone_wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "tone.wav"
    t = np.arange(int(1.5 * 22050)) / 22050
    write_audio(path, 0.3 * np.sin(2 * np.pi * 440 * t), 22050)
    return path


def separate(media, out, model, *extra):
    return separate_audio.main([str(media), "--model", str(model), "--out", str(out), *extra])


def one_error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err, err
    return err


def test_a_users_own_files_are_never_overwritten_without_force(tone_wav, model_path, tmp_path, capsys):
    out = tmp_path / "d"
    out.mkdir()
    (out / "vn.wav").write_bytes(b"my own recording")
    (out / "notes.txt").write_text("mine")
    assert separate(tone_wav, out, model_path, "--instruments", "vn") == 2
    assert "vn.wav" in one_error_line(capsys) and (out / "vn.wav").read_bytes() == b"my own recording"
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "vn.wav"]
    assert separate(tone_wav, out, model_path, "--instruments", "vn", "--force") == 0
    assert (out / "notes.txt").read_text() == "mine" and read_audio(out / "vn.wav")[0].shape[1] > 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_force_replaces_the_earlier_result_whole(tone_wav, model_path, tmp_path):
    out = tmp_path / "d"
    assert separate(tone_wav, out, model_path, "--instruments", "vn,vc") == 0
    assert separate(tone_wav, out, model_path, "--instruments", "va", "--force") == 0
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "mixture.flac", "report.html", "va.wav"]  # no stale vn/vc stems
    assert json.loads((out / "manifest.json").read_text())["instruments"] == ["va"]


def test_a_run_that_dies_while_writing_leaves_the_earlier_result_untouched(tone_wav, model_path, tmp_path,
                                                                            monkeypatch):
    out = tmp_path / "d"
    assert separate(tone_wav, out, model_path, "--instruments", "vn") == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    import audio.stream

    calls, write = [], audio.stream.BlockWriter.write

    def dying_write(self, block):
        calls.append(block)
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed while the stems are being written
        write(self, block)

    monkeypatch.setattr(audio.stream.BlockWriter, "write", dying_write)
    assert separate(tone_wav, out, model_path, "--instruments", "vc,va", "--force") == 130
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_exchange_swaps_two_folders():
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        first, second = Path(root, "a"), Path(root, "b")
        first.mkdir(), second.mkdir()
        (first / "x").write_text("first")
        (second / "y").write_text("second")
        exchange(first, second)
        assert (second / "x").read_text() == "first" and (first / "y").read_text() == "second"


def test_non_finite_input_samples_are_zeroed_with_a_warning(model_path, tmp_path, capsys):
    audio = 0.3 * np.sin(2 * np.pi * 440 * np.arange(22050) / 22050).astype(np.float32)
    audio[1000:1101] = np.nan
    audio[5000] = np.inf
    write_audio(tmp_path / "bad.wav", audio, 22050)
    assert separate(tmp_path / "bad.wav", tmp_path / "out", model_path, "--instruments", "vn") == 0
    assert "102 non-finite input samples" in capsys.readouterr().err
    stem = read_audio(tmp_path / "out" / "vn.wav")[0]
    assert np.all(np.isfinite(stem)) and np.abs(stem).max() > 0.1
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["warnings"]


@pytest.mark.parametrize("make_out", ["file", "read-only"])
def test_an_unusable_out_fails_before_any_model_is_loaded(tone_wav, tmp_path, capsys, make_out, monkeypatch):
    import audio.separator

    monkeypatch.setattr(audio.separator.Separator, "__init__", lambda *a, **k: pytest.fail("model loaded"))
    if make_out == "file":
        out = tmp_path / "taken"
        out.write_text("a file")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        (tmp_path / "ro").mkdir()
        os.chmod(tmp_path / "ro", 0o500)
        out = tmp_path / "ro" / "out"
    assert separate(tone_wav, out, "unused.keras", "--instruments", "vn") == 2
    one_error_line(capsys)


def bad_presence_files():
    good = Presence(np.array([0.0, 1.0]), np.ones((2, 13), np.float32), np.ones(13, np.float32), 1.0, {}).to_json()
    no_hop = json.loads(json.dumps(good))
    del no_hop["timeline"]["hop_s"]
    text_hop = json.loads(json.dumps(good))
    text_hop["timeline"]["hop_s"] = "fast"
    zero_hop = json.loads(json.dumps(good))
    zero_hop["timeline"]["hop_s"] = 0
    backwards = json.loads(json.dumps(good))
    backwards["timeline"]["times"] = [1.0, 0.0]
    above_one = json.loads(json.dumps(good))
    above_one["timeline"]["presence"][0][0] = 3.0
    nan_text = json.dumps(good).replace('"presence": [[1.0', '"presence": [[NaN', 1)
    return {"no hop_s": json.dumps(no_hop), "text hop_s": json.dumps(text_hop), "zero hop_s": json.dumps(zero_hop),
            "times backwards": json.dumps(backwards), "value above 1": json.dumps(above_one), "NaN value": nan_text}


@pytest.mark.parametrize("case", sorted(bad_presence_files()))
def test_bad_presence_files_are_one_line_errors_before_the_model(tone_wav, tmp_path, capsys, case, monkeypatch):
    import audio.separator

    monkeypatch.setattr(audio.separator.Separator, "__init__", lambda *a, **k: pytest.fail("model loaded"))
    path = tmp_path / "p.json"
    path.write_text(bad_presence_files()[case])
    assert separate(tone_wav, tmp_path / "out", "unused.keras", "--presence", str(path)) == 2
    assert "presence file" in one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_nan_is_never_written_as_json(tmp_path):
    from common.files import write_json

    with pytest.raises(ValueError):
        write_json(tmp_path / "x.json", {"value": float("nan")})
    assert not list(tmp_path.iterdir())


def test_a_malformed_model_card_is_one_line(tone_wav, model_path, tmp_path, capsys):
    model = tmp_path / "m.keras"
    model.write_bytes(model_path.read_bytes())
    model.with_suffix(".json").write_text("{not json")
    assert separate(tone_wav, tmp_path / "out", model, "--instruments", "vn") == 2
    assert "model card" in one_error_line(capsys)


def test_an_empty_instrument_list_is_an_error_not_detection(tmp_path, capsys):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    assert separate_video.main([str(video), "--instruments", "", "--out", str(tmp_path / "o")]) == 2
    err = one_error_line(capsys)
    assert "empty" in err or "no instrument codes" in err


def test_errors_after_tensorflow_loads_are_still_one_line(tone_wav, tmp_path):
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a model")
    process = subprocess.run([sys.executable, "-m", "pipelines.separate_audio", str(tone_wav), "--instruments", "vn",
                              "--model", str(broken), "--out", str(tmp_path / "o")],
                             cwd=ROOT, capture_output=True, text=True)
    assert process.returncode == 2
    assert process.stderr.strip().count("\n") == 0 and process.stderr.startswith("error:"), process.stderr


def test_a_truncated_video_is_an_error_unless_partial_is_allowed(model_path, tmp_path, capsys):
    from conftest import ffmpeg

    whole = tmp_path / "whole.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=duration=8:size=160x120:rate=10", "-f", "lavfi", "-i",
           "sine=frequency=440:sample_rate=22050:duration=8", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
           "-movflags", "+faststart", "-shortest", str(whole))  # the index first, as streamed files are
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.3)])
    args = [str(cut), "--instruments", "vn", "--model", str(model_path), "--out", str(tmp_path / "out")]
    assert separate_video.main(args) == 2  # found once decoded: the progress bar came before the error
    err = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert err.startswith("error:") and "8.0 s" in err and "--allow-partial" in err and not (tmp_path / "out").exists()
    assert separate_video.main([*args, "--allow-partial"]) == 0
    assert "truncated" in capsys.readouterr().err
    stem, rate = read_audio(tmp_path / "out" / "vn.wav")
    assert 0 < stem.shape[1] / rate < 7


def test_a_soundtrack_shorter_than_the_picture_is_no_truncation(model_path, tmp_path, capsys):
    """Real videos often end their sound before their picture (../shared's cello clip: 18 of 20 s)."""
    from conftest import ffmpeg

    video = tmp_path / "short_sound.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=duration=6:size=160x120:rate=10", "-f", "lavfi", "-i",
           "sine=frequency=440:sample_rate=22050:duration=3", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
           str(video))
    out = tmp_path / "out"
    assert separate_video.main([str(video), "--instruments", "vn", "--model", str(model_path), "--out", str(out)]) == 0
    assert "ends 3.0 s before the picture" in capsys.readouterr().err
    stem, rate = read_audio(out / "vn.wav")
    assert abs(stem.shape[1] / rate - 3.0) < 0.1
    assert any("before the picture" in w for w in json.loads((out / "manifest.json").read_text())["warnings"])
