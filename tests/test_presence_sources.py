"""Where presence comes from in separate_video: the picture, the sound, both; and the default detector's weights."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import ROOT, ffmpeg
from fusion.instruments import index_of
from pipelines import separate_video

DEMO_VIDEO = ROOT / "demo" / "Vid_05_Gloria73C_vc_sax_sax.mp4"
DEMO_DETECTOR = ROOT / "models" / "demo_detector.pt"
SHIPPED_TAGGER = ROOT / "models" / "tagger.keras"
needs_shipped_models = pytest.mark.skipif(not SHIPPED_TAGGER.exists(), reason="no shipped tagger")


def test_the_detector_reports_players_and_counts_people(tmp_path):
    import torch

    from vision.detector import Detector, FrameEvidence
    from vision.ultralytics_offline import load_yolo

    model = load_yolo("yolov8n.yaml")
    model.model.names = {i: f"class {i}" for i in range(80)} | {0: "Person", 1: "Guitar"}
    model.save(tmp_path / "named.pt")
    detector = Detector(tmp_path / "named.pt", imgsz=64)
    boxes = SimpleNamespace(cls=torch.tensor([0.0, 0.0, 5.0]), conf=torch.tensor([0.4, 0.7, 0.9]),
                            xyxy=torch.zeros((3, 4)))
    evidence = FrameEvidence(np.zeros((1, 13), np.float32), np.zeros((1, 13), np.int32), np.zeros(1, np.float32),
                             np.zeros(1, np.int32), np.zeros(1, np.int32))
    detector._read_boxes(boxes, evidence, 0)
    assert evidence.players[0] == pytest.approx(0.7) and evidence.nb_players[0] == 2
    assert not evidence.scores.any()  # people are no instrument
    boxes = SimpleNamespace(cls=torch.tensor([1.0, 1.0]), conf=torch.tensor([0.5, 0.3]), xyxy=torch.zeros((2, 4)))
    detector._read_boxes(boxes, evidence, 0)  # two guitarists: players of none of ours
    assert evidence.players[0] == pytest.approx(0.7) and not evidence.scores.any()
    assert evidence.nb_others[0] == 2 and evidence.nb_players[0] == 2


def test_released_weights_are_fetched_into_the_cache_when_online(monkeypatch, tmp_path, capsys):
    import ultralytics.utils.downloads

    from vision import ultralytics_offline

    def fake_download(url, file, **kwargs):
        assert url.endswith("/yolov8m-oiv7.pt")
        file.write_bytes(b"weights")

    monkeypatch.setattr(ultralytics_offline, "github_reachable", lambda timeout_s=3.0: True)
    monkeypatch.setattr(ultralytics.utils.downloads, "safe_download", fake_download)
    target = tmp_path / "yolov8m-oiv7.pt"
    ultralytics_offline.fetch_released_weights(target)
    assert target.read_bytes() == b"weights" and str(target) in capsys.readouterr().err

    def failing_download(url, file, **kwargs):
        file.write_bytes(b"half")
        raise ConnectionError("reset by peer")

    monkeypatch.setattr(ultralytics.utils.downloads, "safe_download", failing_download)
    target.unlink()
    ultralytics_offline.fetch_released_weights(target)
    assert list(tmp_path.iterdir()) == [] and "failed" in capsys.readouterr().err


def test_offline_without_the_default_weights_video_alone_is_a_one_line_error(sine_video, tmp_path, capsys):
    code = separate_video.main([str(sine_video), "--presence-from", "video", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "yolov8m-oiv7.pt" in err and "download https://github.com/ultralytics/assets" in err
    assert not (tmp_path / "o").exists()


@needs_shipped_models
def test_offline_without_the_default_weights_the_sound_decides_with_a_warning(sine_video, tmp_path, capsys):
    assert separate_video.main([str(sine_video), "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "yolov8m-oiv7.pt" in err and "sound alone" in err
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["presence"]["source"] == "audio" and "tagger" in manifest["presence"]
    assert any("sound alone" in warning for warning in manifest["warnings"])


def concatenated_clip(folder):
    """The demo video cut and joined: play (0-10 s), rest in view (10-22 s: picture, no sound),
    leave the picture (22-34 s: sound, black picture), play again (34-44 s)."""
    parts = []
    pieces = [("0", "10", "", ""), ("10", "12", "", "volume=0"), ("10", "12", "drawbox=t=fill:c=black", ""),
              ("0", "10", "", "")]
    for index, (start, length, picture, sound) in enumerate(pieces):
        part = folder / f"part{index}.mp4"
        ffmpeg("-ss", start, "-t", length, "-i", str(DEMO_VIDEO), "-vf", picture or "null", "-af", sound or "anull",
               "-c:v", "libx264", "-pix_fmt", "yuv420p", "-r", "10", "-c:a", "aac", "-ar", "44100", str(part))
        parts.append(part)
    listing = folder / "parts.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    clip = folder / "rest_and_leave.mp4"
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(clip))
    return clip


@needs_shipped_models
def test_a_player_who_rests_or_leaves_turns_off_there_and_on_after(tmp_path):
    """Whatever the senses take the players for, those on at the start go off while resting or out of the
    picture, and come back."""
    from pipelines.separate import resolve_presence

    presence = resolve_presence(concatenated_clip(tmp_path), detector=str(DEMO_DETECTOR), fps=1.0)
    assert presence.meta["source"] == "video+audio"
    on = presence.at(np.arange(44.0), threshold=0.5)
    playing = np.flatnonzero(on[3:8].all(axis=0))
    assert len(playing), "someone is heard and seen playing at the start"
    assert not on[14:19, playing].any(), "resting (silence) in view"
    assert not on[26:31, playing].any(), "out of the picture"
    assert on[37:42, playing].any(axis=1).all(), "back in view, playing"
