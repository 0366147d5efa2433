"""Sampling video frames at N frames per second, with their timestamps, through OpenCV.

Frames are BGR uint8 ``(height, width, 3)`` as OpenCV decodes them. To reach a wanted frame
far ahead, sampling either seeks (which decodes from the keyframe before it) or grabs (decodes
without converting) every frame in between. Which is cheaper depends on the keyframe spacing,
which OpenCV does not tell: the first far gap is grabbed and the second seeks, both timed, and
from then on each gap takes the way the running estimates say is cheaper. A video with a
keyframe every second seeks; one with a keyframe every 8 s (x264's default) grabs.
"""
import time
from dataclasses import dataclass

import cv2
import numpy as np

from common.errors import EmptyMediaError, NoVideoStreamError, UndecodableMediaError
from common.ffmpeg import check_media_file, probe_media

# Seeking costs a keyframe decode plus the frames up to the target; below this many frames
# ahead, grabbing forward is cheaper.
_SEEK_THRESHOLD_FRAMES = 48


@dataclass
class SampledFrame:
    """One sampled frame.

    Attributes:
        time_s: presentation time in seconds (frame index / fps).
        index: frame index in the video.
        image: BGR uint8 array ``(height, width, 3)``.
    """

    time_s: float
    index: int
    image: np.ndarray


@dataclass
class SamplingStats:
    """What sampling cost: frames returned vs frames the decoder had to read; the video's length."""

    duration_s: float = 0.0
    frames_sampled: int = 0
    frames_decoded: int = 0
    seeks: int = 0


@dataclass
class GapCosts:
    """The last measured cost of crossing a far gap: seconds per seek, seconds per grabbed frame."""

    seek_s: float = None
    grab_s: float = None

    def seek_is_cheaper(self, gap):
        """Grab the first far gap and seek the second (to measure both); then the cheaper for ``gap`` frames."""
        if self.grab_s is None:
            return False
        if self.seek_s is None:
            return True
        return self.seek_s < self.grab_s * gap


def sample_times(duration_s, fps):
    """Times in seconds at which ``fps`` frames per second are taken: ``0, 1/fps, ...`` < duration."""
    if fps <= 0:
        raise ValueError(f"sampling rate must be positive, got {fps}")
    return np.arange(0.0, duration_s, 1.0 / fps)


def open_video(path):
    """Open ``path`` with OpenCV; return ``(capture, video_fps, nb_frames)``.

    Raises:
        MediaNotFoundError, EmptyMediaError, UndecodableMediaError, NoVideoStreamError.
    """
    info = probe_media(check_media_file(path))
    if not info.has_video:
        raise NoVideoStreamError(f"no video stream in {path}")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise UndecodableMediaError(f"OpenCV cannot open {path}")
    video_fps = capture.get(cv2.CAP_PROP_FPS) or info.fps
    nb_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    if nb_frames <= 0 and info.duration_s:
        nb_frames = int(round(info.duration_s * video_fps))
    if not video_fps or nb_frames <= 0:
        capture.release()
        raise EmptyMediaError(f"no video frames in {path}")
    return capture, video_fps, nb_frames


def sample_frames(path, fps=1.0, stats=None):
    """Yield :class:`SampledFrame` at ``fps`` frames per second over the whole video.

    Each sample time ``t`` takes the frame shown at ``t`` (index ``floor(t * video_fps)``);
    a rate above the video's own repeats no frame: each frame is yielded once at most.

    Args:
        path: a video file.
        fps: samples per second.
        stats: optional :class:`SamplingStats`, updated as frames are read.

    Raises:
        MediaNotFoundError, EmptyMediaError, UndecodableMediaError, NoVideoStreamError.
    """
    stats = stats if stats is not None else SamplingStats()
    capture, video_fps, nb_frames = open_video(path)
    stats.duration_s = nb_frames / video_fps
    costs = GapCosts()
    try:
        wanted = sorted({int(t * video_fps + 1e-6) for t in sample_times(nb_frames / video_fps, fps)})
        position = 0  # index of the frame the next read returns
        for index in wanted:
            gap = index - position
            far = gap > _SEEK_THRESHOLD_FRAMES
            seek = far and costs.seek_is_cheaper(gap)
            if seek:
                started = time.perf_counter()
                capture.set(cv2.CAP_PROP_POS_FRAMES, index)
                costs.seek_s = time.perf_counter() - started
                position = index
                stats.seeks += 1
            started = time.perf_counter()
            while position < index:
                if not capture.grab():
                    return
                position += 1
                stats.frames_decoded += 1
            if far and not seek:
                costs.grab_s = (time.perf_counter() - started) / gap
            ok, image = capture.read()
            if not ok:
                if stats.frames_sampled == 0:
                    raise UndecodableMediaError(f"cannot decode any frame of {path}")
                return
            position += 1
            stats.frames_decoded += 1
            stats.frames_sampled += 1
            yield SampledFrame(time_s=index / video_fps, index=index, image=image)
    finally:
        capture.release()
