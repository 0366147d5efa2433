import json
import os
import shutil

import numpy as np
import pytest

from conftest import shared_file
from vision.detect_instruments import find_videos, main, name_scores


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """An untrained yolov8n saved as a weights file: exercises the real loading path."""
    from vision.ultralytics_offline import load_yolo

    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    load_yolo("yolov8n.yaml").save(path)
    return path


def run(videos, out, weights, *extra):
    return main([*map(str, videos), "--out", str(out), "--detector", str(weights), "--imgsz", "64", *extra])


def test_writes_presence_json_with_timeline(sine_video, tmp_path, tiny_weights, capsys):
    assert run([sine_video], tmp_path, tiny_weights) == 0
    data = json.loads((tmp_path / "sine.presence.json").read_text())
    assert data["instruments"] == ["vn", "va", "vc", "db", "fl", "ob", "cl", "sax", "bn", "tpt", "hn", "tbn", "tba"]
    assert set(data["clip"]) == set(data["instruments"]) and all(0 <= v <= 1 for v in data["clip"].values())
    assert data["timeline"]["times"] == [0.0, 1.0, 2.0] and data["timeline"]["hop_s"] == 1.0
    assert np.array(data["timeline"]["presence"]).shape == (3, 13)
    assert data["frames_sampled"] == 3 and data["detector"]["weights"] == str(tiny_weights)
    assert "sine.mp4" in capsys.readouterr().out


def test_resume_skips_done_videos_unless_forced(sine_video, tmp_path, tiny_weights, capsys):
    assert run([sine_video], tmp_path, tiny_weights) == 0
    output = tmp_path / "sine.presence.json"
    output.write_text(output.read_text().replace('"frames_sampled": 3', '"frames_sampled": 3, "marker": 1'))
    assert run([sine_video], tmp_path, tiny_weights) == 0
    assert "marker" in output.read_text() and "skipped" in capsys.readouterr().out
    assert run([sine_video], tmp_path, tiny_weights, "--force", "--fps", "2") == 0
    data = json.loads(output.read_text())
    assert "marker" not in data  # the frame shown at each sample time: 0.5 s is frame 12 at 25 fps
    assert data["timeline"]["times"] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.5], abs=1 / 25)


def test_one_bad_video_does_not_stop_the_others(text_as_mp4, silent_video, sine_video, tmp_path, tiny_weights, capsys):
    assert run([text_as_mp4, tmp_path / "absent.mp4", silent_video, sine_video], tmp_path / "out", tiny_weights) == 1
    assert (tmp_path / "out" / "sine.presence.json").exists()
    assert (tmp_path / "out" / "silent.presence.json").exists()  # a video without sound still has pictures
    assert not (tmp_path / "out" / "notes.presence.json").exists()
    table = capsys.readouterr().out
    assert table.count("failed") == 2 and "no such file" in table


def test_folders_are_searched_recursively(sine_video, tmp_path, tiny_weights):
    nested = tmp_path / "urmp" / "01_Jupiter_vn_vc"
    nested.mkdir(parents=True)
    shutil.copy(sine_video, nested / "Vid_01_Jupiter_vn_vc.mp4")
    (nested / "AuMix_01_Jupiter_vn_vc.wav").write_bytes(b"")
    assert find_videos([tmp_path / "urmp"]) == [nested / "Vid_01_Jupiter_vn_vc.mp4"]
    assert run([tmp_path / "urmp"], tmp_path / "out", tiny_weights, "--labels-from-names") == 0
    assert (tmp_path / "out" / "Vid_01_Jupiter_vn_vc.presence.json").exists()


def test_default_detector_offline_fails_in_one_line(sine_video, tmp_path, capsys):
    assert main([str(sine_video), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "yolov8m-oiv7.pt" in err and "--detector" in err


def test_bad_arguments(sine_video, tmp_path, tiny_weights, capsys):
    assert run([sine_video], tmp_path, tiny_weights, "--fps", "0") == 2
    assert run([tmp_path / "empty_dir_that_is_missing"], tmp_path, tiny_weights) == 1
    (tmp_path / "nothing").mkdir()
    assert run([tmp_path / "nothing"], tmp_path, tiny_weights) == 2
    assert "no videos" in capsys.readouterr().err


def test_name_scores():
    rows = [({"vn", "vc"}, {"vn", "vc"}), ({"vn", "va"}, {"vn"}), ({"tpt"}, {"tpt", "vn"})]
    scores = name_scores(rows)
    assert scores["vn"][:3] == pytest.approx((2 / 3, 1.0, 0.8))
    assert scores["va"] == (0.0, 0.0, 0.0, 1)
    assert scores["vc"][2] == 1.0


def test_real_video_timeline_spans_the_clip(tmp_path, tiny_weights):
    video = shared_file("data/video/pianist_20s.mp4")
    assert run([video], tmp_path, tiny_weights) == 0
    data = json.loads((tmp_path / "pianist_20s.presence.json").read_text())
    assert data["timeline"]["times"][0] == 0.0 and data["timeline"]["times"][-1] == pytest.approx(19.0)
    assert data["frames_sampled"] == 20


def test_detector_runs_on_the_cores_it_is_given(tiny_weights):
    import torch

    from vision.detector import Detector

    frames = [np.zeros((64, 64, 3), dtype=np.uint8)] * 2
    for threads, expected in ((None, len(os.sched_getaffinity(0))), (1, 1)):
        detector = Detector(tiny_weights, imgsz=64, threads=threads)
        for _ in range(2):  # ultralytics resets torch's threads when its predictor starts
            detector.detect(frames)
            assert torch.get_num_threads() == expected


def test_videos_with_the_same_name_in_different_folders_keep_their_own_outputs(sine_video, tmp_path, tiny_weights,
                                                                              capsys):
    for camera in ("cam1", "cam2"):
        (tmp_path / "shoot" / camera).mkdir(parents=True)
        shutil.copy(sine_video, tmp_path / "shoot" / camera / "take.mp4")
    assert run([tmp_path / "shoot"], tmp_path / "out", tiny_weights) == 0
    assert (tmp_path / "out" / "cam1" / "take.presence.json").exists()
    assert (tmp_path / "out" / "cam2" / "take.presence.json").exists()
    table = capsys.readouterr().out
    assert "cam1/take.mp4" in table and "cam2/take.mp4" in table and "skipped" not in table


def test_onnx_weights_run_and_name_our_instruments(tmp_path):
    from vision.detector import Detector

    weights = shared_file("models/yolov8n-oiv7-int8.onnx")  # Open Images V7, exported and quantised
    detector = Detector(weights)
    assert {"Violin": "vn", "Cello": "vc", "Trumpet": "tpt", "Flute": "fl"}.items() <= \
        detector.describe()["classes_used"].items()
    video = shared_file("data/video_real/mma_oboe-demo.mp4")
    assert main([str(video), "--detector", str(weights), "--out", str(tmp_path)]) == 0
    presence = json.loads((tmp_path / "mma_oboe-demo.presence.json").read_text())
    assert len(presence["timeline"]["times"]) >= 14  # 15 s at 1 frame/s


def test_weights_whose_runtime_is_missing_fail_in_one_line(monkeypatch, sine_video, tmp_path, capsys):
    import sys

    weights = shared_file("models/yolov8n-oiv7-int8.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    assert main([str(sine_video), "--detector", str(weights), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "onnxruntime" in err and "not installed" in err
