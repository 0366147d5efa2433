import os
import socket
import time

import numpy as np
import pytest

from common.errors import ConfigError
from vision.ultralytics_offline import configure_ultralytics, load_yolo


@pytest.fixture
def no_network(monkeypatch):
    """Fail any attempt to resolve or connect, and record it."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access attempted in a test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def test_environment_is_offline():
    config_dir = configure_ultralytics()
    assert os.environ["YOLO_OFFLINE"] == "1" and os.environ["YOLO_AUTOINSTALL"] == "0"
    assert (config_dir / "Ultralytics" / "Arial.ttf").stat().st_size > 10_000
    assert str(config_dir).startswith(os.environ["AVSEP_CACHE_DIR"])


def test_tiny_model_builds_and_predicts_without_network(no_network):
    model = load_yolo("yolov8n.yaml")
    from ultralytics import settings

    assert settings["sync"] is False
    from ultralytics.utils import checks

    assert checks.check_font("Arial.ttf").exists()  # found locally, no download
    frames = [np.full((64, 96, 3), value, dtype=np.uint8) for value in (0, 128)]
    results = list(model.predict(frames, imgsz=32, stream=True, verbose=False))
    assert len(results) == 2 and results[0].orig_shape == (64, 96)
    assert no_network == []


def test_missing_weights_fail_in_one_line_after_one_look_for_github(no_network, tmp_path):
    start = time.monotonic()
    with pytest.raises(ConfigError) as error:
        load_yolo("yolov8m-oiv7.pt")  # a released name: downloaded when github.com answers
    assert "--detector" in str(error.value) and "\n" not in str(error.value)
    assert "releases/download" in str(error.value) and "weights/yolov8m-oiv7.pt" in str(error.value)
    assert no_network == [(("github.com", 443),)]
    with pytest.raises(ConfigError):
        load_yolo(tmp_path / "absent.pt")  # a path: never fetched
    assert time.monotonic() - start < 5 and len(no_network) == 1


def test_corrupt_weights_fail_in_one_line(tmp_path):
    path = tmp_path / "broken.pt"
    path.write_text("not a checkpoint")
    with pytest.raises(ConfigError, match="cannot load detector weights"):
        load_yolo(path)


def test_local_weights_load_by_path_and_from_cache(no_network, tmp_path):
    model = load_yolo("yolov8n.yaml")
    path = tmp_path / "tiny.pt"
    model.save(path)
    reloaded = load_yolo(path)
    assert reloaded.names == model.names
    cached = configure_ultralytics().parent / "weights" / "tiny-cached.pt"
    cached.parent.mkdir(exist_ok=True)
    cached.write_bytes(path.read_bytes())
    assert load_yolo("tiny-cached.pt").names == model.names
    assert no_network == []


class _Payload:
    """Unpickling this creates a file: what a crafted checkpoint could do instead."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_weights_that_run_code_when_unpickled_are_refused_without_running_it(tmp_path):
    import torch

    marker, evil = tmp_path / "pwned", tmp_path / "evil.pt"
    torch.save({"model": _Payload(marker)}, evil)
    with pytest.raises(ConfigError, match="cannot load detector weights"):
        load_yolo(evil)
    assert not marker.exists()


def test_the_shipped_demo_detector_still_loads_safely():
    from pathlib import Path

    model = load_yolo(Path(__file__).resolve().parents[1] / "models" / "demo_detector.pt")
    assert set(model.names.values()) >= {"violin", "cello"}
