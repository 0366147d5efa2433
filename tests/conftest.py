"""Shared fixtures: media made on the spot with ffmpeg's lavfi sources, and ../shared clips."""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
# Keep test caches (ultralytics config) inside the checkout, not in the user's home.
os.environ.setdefault("AVSEP_CACHE_DIR", str(ROOT / ".cache" / "tests"))

from common.ffmpeg import ffmpeg_exe  # noqa: E402  (after the cache folder is chosen)
from tests.sine_pieces import write_piece  # noqa: E402

VIDEO_SECONDS = 3
VIDEO_FPS = 25
SINE_HZ = 440


def ffmpeg(*args):
    """Run ffmpeg quietly; fail the test with its stderr if it fails."""
    process = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
                             capture_output=True, text=True)
    assert process.returncode == 0, process.stderr


def shared_file(relative):
    """A file under ../shared, or skip the test when the shared folder is absent."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def sine_video(media_dir):
    """3 s, 25 fps, 320x240 test pattern with a 440 Hz stereo AAC soundtrack at 44.1 kHz."""
    path = media_dir / "sine.mp4"
    ffmpeg("-f", "lavfi", "-i", f"testsrc=duration={VIDEO_SECONDS}:size=320x240:rate={VIDEO_FPS}",
           "-f", "lavfi", "-i", f"sine=frequency={SINE_HZ}:sample_rate=44100:duration={VIDEO_SECONDS}",
           "-ac", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path))
    return path


@pytest.fixture(scope="session")
def silent_video(media_dir):
    """3 s, 25 fps test pattern with no audio stream."""
    path = media_dir / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", f"testsrc=duration={VIDEO_SECONDS}:size=320x240:rate={VIDEO_FPS}",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path))
    return path


def frame_index_color(index):
    """BGR colour encoding a frame index, robust to lossy compression (steps of 50 levels)."""
    return (index % 5) * 50 + 25, (index // 5 % 5) * 50 + 25, (index // 25) * 50 + 25


def decode_frame_index(image):
    """Inverse of :func:`frame_index_color` on a decoded frame."""
    blue, green, red = (int(round((image[..., channel].mean() - 25) / 50)) for channel in range(3))
    return blue + 5 * green + 25 * red


@pytest.fixture(scope="session")
def indexed_video(media_dir):
    """4 s at 25 fps whose frame i is a flat colour encoding i; a keyframe every 10 frames."""
    path = media_dir / "indexed.mp4"
    nb_frames = 4 * VIDEO_FPS
    frames = np.empty((nb_frames, 64, 64, 3), dtype=np.uint8)
    for index in range(nb_frames):
        frames[index] = frame_index_color(index)[::-1]  # RGB for ffmpeg's rgb24 input
    process = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
         "-s", "64x64", "-r", str(VIDEO_FPS), "-i", "pipe:", "-c:v", "libx264", "-g", "10", "-crf", "10",
         "-pix_fmt", "yuv444p", str(path)],
        input=frames.tobytes(), capture_output=True)
    assert process.returncode == 0, process.stderr.decode()
    return path


@pytest.fixture(scope="session")
def text_as_mp4(media_dir):
    path = media_dir / "notes.mp4"
    path.write_text("this is not a video\n")
    return path


@pytest.fixture(scope="session")
def empty_file(media_dir):
    path = media_dir / "empty.wav"
    path.write_bytes(b"")
    return path


@pytest.fixture(scope="session")
def zero_sample_wav(media_dir):
    """A valid WAV header with no samples."""
    import soundfile

    path = media_dir / "zero.wav"
    soundfile.write(path, np.zeros((0, 1), dtype=np.float32), 22050)
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("urmp")
    for number, codes in enumerate([("vn", "vc"), ("fl", "cl", "bn"), ("vn", "vn", "va"), ("tpt", "tba")], 1):
        write_piece(root, number, codes, seed=number)
    return root
