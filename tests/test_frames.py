import numpy as np
import pytest

from common.errors import EmptyMediaError, MediaNotFoundError, NoVideoStreamError, UndecodableMediaError
from common.ffmpeg import probe_media
from conftest import VIDEO_FPS, VIDEO_SECONDS, decode_frame_index, shared_file
from vision.frames import GapCosts, SamplingStats, sample_frames, sample_times


def test_probe_video_with_sound(sine_video):
    info = probe_media(sine_video)
    assert info.has_video and info.has_audio
    assert (info.width, info.height, info.fps) == (320, 240, VIDEO_FPS)
    assert info.duration_s == pytest.approx(VIDEO_SECONDS, abs=0.05)
    assert (info.sample_rate, info.nb_channels) == (44100, 2)


def test_probe_video_without_sound(silent_video):
    info = probe_media(silent_video)
    assert info.has_video and not info.has_audio and info.sample_rate is None


def test_probe_audio_file(tmp_path):
    import soundfile

    soundfile.write(tmp_path / "six.wav", np.zeros((800, 6), dtype=np.float32), 8000)
    info = probe_media(tmp_path / "six.wav")
    assert not info.has_video and info.has_audio
    assert (info.sample_rate, info.nb_channels) == (8000, 6)
    assert info.duration_s == pytest.approx(0.1)


def test_sample_times():
    np.testing.assert_allclose(sample_times(3.0, 1.0), [0, 1, 2])
    np.testing.assert_allclose(sample_times(1.0, 4.0), [0, 0.25, 0.5, 0.75])
    with pytest.raises(ValueError):
        sample_times(3.0, 0)


def test_sampling_one_frame_per_second(sine_video):
    frames = list(sample_frames(sine_video, fps=1.0))
    assert [f.time_s for f in frames] == [0.0, 1.0, 2.0]
    assert [f.index for f in frames] == [0, VIDEO_FPS, 2 * VIDEO_FPS]
    assert all(f.image.shape == (240, 320, 3) and f.image.dtype == np.uint8 for f in frames)


@pytest.mark.parametrize("way", ["measured", "always seek"])
@pytest.mark.parametrize("fps", [0.3, 0.5, 1.0, 3.0, 10.0])
def test_sampled_frames_are_the_right_frames(indexed_video, fps, way, monkeypatch):
    if way == "always seek":
        monkeypatch.setattr(GapCosts, "seek_is_cheaper", lambda self, gap: True)
    stats = SamplingStats()
    frames = list(sample_frames(indexed_video, fps=fps, stats=stats))
    expected = [int(t * VIDEO_FPS + 1e-6) for t in sample_times(4.0, fps)]
    assert [f.index for f in frames] == expected
    assert [decode_frame_index(f.image) for f in frames] == expected
    assert stats.frames_sampled == len(expected)


def test_sparse_sampling_grabs_the_first_far_gap_then_seeks_to_measure_both(indexed_video):
    stats = SamplingStats()
    frames = list(sample_frames(indexed_video, fps=0.3, stats=stats))  # every 83.3 frames: 0, 83
    assert [decode_frame_index(f.image) for f in frames] == [0, 83]
    assert stats.seeks == 0 and stats.frames_decoded == 84


def test_far_gaps_take_the_way_measured_cheaper():
    costs = GapCosts()
    assert not costs.seek_is_cheaper(100)  # nothing measured: grab, and time it
    costs.grab_s = 0.002
    assert costs.seek_is_cheaper(100)  # grabbing measured: seek once, and time it
    costs.seek_s = 0.5  # a keyframe far back: a seek decodes many frames
    assert not costs.seek_is_cheaper(100) and costs.seek_is_cheaper(300)


def test_sampling_above_video_rate_repeats_no_frame(indexed_video):
    frames = list(sample_frames(indexed_video, fps=50.0))
    assert [f.index for f in frames] == list(range(4 * VIDEO_FPS))


def test_bad_inputs(tmp_path, text_as_mp4, empty_file):
    import soundfile

    soundfile.write(tmp_path / "a.wav", np.zeros((800, 1), dtype=np.float32), 8000)
    with pytest.raises(NoVideoStreamError):
        list(sample_frames(tmp_path / "a.wav"))
    with pytest.raises(UndecodableMediaError):
        list(sample_frames(text_as_mp4))
    with pytest.raises(EmptyMediaError):
        list(sample_frames(empty_file))
    with pytest.raises(MediaNotFoundError):
        list(sample_frames(tmp_path / "absent.mp4"))


@pytest.mark.parametrize("name, seconds, size", [("pianist_20s.mp4", 20, (480, 640)), ("raga_trio_10s.mp4", 10, (576, 768))])
def test_real_videos(name, seconds, size):
    path = shared_file(f"data/video/{name}")
    stats = SamplingStats()
    frames = list(sample_frames(path, fps=1.0, stats=stats))
    assert [f.time_s for f in frames] == pytest.approx(list(range(seconds)), abs=1e-6)
    assert frames[0].image.shape == (*size, 3)
    assert frames[0].image.std() > 5  # a real picture, not a blank frame
    assert stats.frames_decoded < seconds * 30
