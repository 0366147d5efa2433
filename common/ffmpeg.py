"""Finding ffmpeg and probing media files with it.

The system ``ffmpeg`` is used when there is one; otherwise the binary that the
``imageio-ffmpeg`` wheel ships, so no system package is needed. Only ``ffmpeg`` itself is
assumed (imageio-ffmpeg ships no ``ffprobe``): probing parses what ``ffmpeg -i`` prints.
"""
import functools
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from common.errors import EmptyMediaError, MediaNotFoundError, UndecodableMediaError

CLOCK = r"(\d+):(\d+):(\d+(?:\.\d+)?)"  # an HH:MM:SS.ss time in ffmpeg's output: hours, minutes, seconds
_CHANNEL_LAYOUTS = {"mono": 1, "stereo": 2, "2.1": 3, "3.0": 3, "3.0(back)": 3, "quad": 4, "4.0": 4,
                    "quad(side)": 4, "4.1": 5, "5.0": 5, "5.0(side)": 5, "5.1": 6, "5.1(side)": 6,
                    "6.0": 6, "6.1": 7, "7.0": 7, "7.1": 8, "7.1(wide)": 8, "octagonal": 8}


@functools.lru_cache(maxsize=1)
def ffmpeg_exe():
    """Path of the ffmpeg binary: the system one, else imageio-ffmpeg's."""
    system = shutil.which("ffmpeg")
    if system:
        return system
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class MediaInfo:
    """What ``ffmpeg -i`` says of a file.

    Attributes:
        path: the file.
        duration_s: container duration in seconds (None when unknown, e.g. a raw stream).
        has_video, has_audio: whether a video / audio stream exists (cover art counts as video).
        width, height, fps: of the first video stream (None without one).
        sample_rate, nb_channels: of the first audio stream (None without one).
    """

    path: Path
    duration_s: float = None
    has_video: bool = False
    has_audio: bool = False
    width: int = None
    height: int = None
    fps: float = None
    sample_rate: int = None
    nb_channels: int = None


def check_media_file(path):
    """Raise a one-line error unless ``path`` is an existing, non-empty file; return it as Path."""
    path = Path(path)
    if not path.exists():
        raise MediaNotFoundError(f"no such file: {path}")
    if not path.is_file():
        raise MediaNotFoundError(f"not a file: {path}")
    if path.stat().st_size == 0:
        raise EmptyMediaError(f"empty file: {path}")
    return path


def ffmpeg_error_line(stderr):
    """The most telling line of ffmpeg's stderr (bytes), for one-line error messages."""
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    for line in reversed(lines):
        if "Invalid data" in line or "No such file" in line or "does not contain" in line:
            return line.split(": ", 1)[-1] if line.startswith(("[", "/")) else line
    return lines[-1] if lines else "ffmpeg failed"


def probe_media(path):
    """Probe a media file: duration, streams, picture size, frame rate, audio format.

    Raises:
        MediaNotFoundError, EmptyMediaError: no such file, or an empty one.
        UndecodableMediaError: ffmpeg recognises no media in it (a text file named .mp4).
    """
    path = check_media_file(path)
    process = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path)], capture_output=True)
    text = process.stderr.decode(errors="replace")
    if "Input #0" not in text:
        raise UndecodableMediaError(f"cannot decode {path}: {ffmpeg_error_line(process.stderr)}")
    return _parse_probe(path, text)


def picture_duration_s(path):
    """Seconds the first video stream of ``path`` runs, read from its packets (copied, not decoded:
    fast), or None when it has none or ffmpeg reports no time."""
    process = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path), "-map", "0:v:0", "-c", "copy",
                              "-f", "null", "-"], capture_output=True)
    times = re.findall(r"time=" + CLOCK, process.stderr.decode(errors="replace"))
    if process.returncode != 0 or not times:
        return None
    return clock_seconds(*times[-1])


def clock_seconds(hours, minutes, seconds):
    """Seconds of an ffmpeg ``HH:MM:SS.ss`` time, from the three strings :data:`CLOCK` captures."""
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _parse_probe(path, text):
    """Build :class:`MediaInfo` from ``ffmpeg -i`` output."""
    info = {"path": path}
    duration = re.search(r"Duration: " + CLOCK, text)
    if duration:
        info["duration_s"] = clock_seconds(*duration.groups())
    video = re.search(r"Stream #\S+.*?: Video: (.*)", text)
    if video:
        info["has_video"] = True
        size = re.search(r"\b(\d{1,5})x(\d{1,5})\b", video.group(1))
        if size:
            info["width"], info["height"] = int(size.group(1)), int(size.group(2))
        fps = re.search(r"([\d.]+)(k?) (?:fps|tbr)", video.group(1))
        if fps:
            info["fps"] = float(fps.group(1)) * (1000 if fps.group(2) else 1)
    audio = re.search(r"Stream #\S+.*?: Audio: (.*)", text)
    if audio:
        info["has_audio"] = True
        rate = re.search(r"(\d+) Hz, ([^,]+)", audio.group(1))
        if rate:
            info["sample_rate"] = int(rate.group(1))
            info["nb_channels"] = _channel_count(rate.group(2).strip())
    return MediaInfo(**info)


def _channel_count(layout):
    """Channels of an ffmpeg layout name (``"stereo"``, ``"5.1(side)"``, ``"3 channels"``)."""
    counted = re.match(r"(\d+) channels", layout)
    if counted:
        return int(counted.group(1))
    return _CHANNEL_LAYOUTS.get(layout)
