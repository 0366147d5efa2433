import numpy as np
import pytest
import soundfile

from audio.io import read_audio, resample, write_audio
from common.errors import EmptyMediaError, MediaNotFoundError, NoAudioStreamError, UndecodableMediaError
from conftest import SINE_HZ, VIDEO_SECONDS, shared_file

RATES = [8000, 22050, 44100, 48000, 96000]


def dominant_frequency(signal, sample_rate):
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return np.fft.rfftfreq(len(signal), 1 / sample_rate)[spectrum.argmax()]


def tone(nb_channels, sample_rate, seconds=0.5):
    """Each channel a different sine (300, 400, ... Hz) so channel order is checkable."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return np.stack([0.5 * np.sin(2 * np.pi * (300 + 100 * c) * t) for c in range(nb_channels)]).astype(np.float32)


@pytest.mark.parametrize("sample_rate", RATES)
@pytest.mark.parametrize("nb_channels", [1, 2, 3, 4, 5, 6])
def test_wav_read_is_exact_at_native_rate(tmp_path, sample_rate, nb_channels):
    audio = tone(nb_channels, sample_rate)
    path = tmp_path / "x.wav"
    soundfile.write(path, audio.T, sample_rate, subtype="FLOAT")
    decoded, rate = read_audio(path)
    assert rate == sample_rate and decoded.dtype == np.float32
    np.testing.assert_array_equal(decoded, audio)


@pytest.mark.parametrize("sample_rate", RATES)
@pytest.mark.parametrize("nb_channels", [1, 2, 6])
def test_wav_read_resampled_to_22050(tmp_path, sample_rate, nb_channels):
    audio = tone(nb_channels, sample_rate)
    path = tmp_path / "x.wav"
    soundfile.write(path, audio.T, sample_rate, subtype="PCM_16")
    decoded, rate = read_audio(path, sample_rate=22050)
    assert rate == 22050
    assert decoded.shape == (nb_channels, round(audio.shape[1] * 22050 / sample_rate))
    for channel in range(nb_channels):
        assert dominant_frequency(decoded[channel], 22050) == pytest.approx(300 + 100 * channel, abs=3)


def test_resampler_keeps_timing_and_band_limits():
    rate = 48000
    click = np.zeros((1, rate), dtype=np.float32)
    click[0, 24000] = 1.0
    down = resample(click, rate, 16000)
    assert down.shape == (1, 16000)
    assert abs(int(np.argmax(np.abs(down[0]))) - 8000) <= 1  # no delay
    # a 10 kHz tone is above the 8 kHz Nyquist of 16 kHz: it must be removed, not aliased
    t = np.arange(rate) / rate
    high = np.sin(2 * np.pi * 10000 * t)[None].astype(np.float32)
    assert np.abs(resample(high, rate, 16000)[0, 1000:-1000]).max() < 1e-2


def test_downmix_to_mono(tmp_path):
    audio = np.stack([np.full(1000, 0.2), np.full(1000, 0.6)]).astype(np.float32)
    path = tmp_path / "x.wav"
    soundfile.write(path, audio.T, 8000, subtype="FLOAT")
    mono, _ = read_audio(path, nb_channels=1)
    assert mono.shape == (1, 1000)
    np.testing.assert_allclose(mono, 0.4, atol=1e-6)


def test_video_soundtrack(sine_video):
    audio, rate = read_audio(sine_video, sample_rate=22050)
    assert rate == 22050 and audio.shape[0] == 2
    assert abs(audio.shape[1] - VIDEO_SECONDS * 22050) < 0.05 * 22050  # AAC adds a frame at most
    assert dominant_frequency(audio[0], 22050) == pytest.approx(SINE_HZ, abs=3)


def test_write_then_read_round_trip(tmp_path):
    audio = tone(2, 22050)
    write_audio(tmp_path / "out" / "a.wav", audio, 22050)
    decoded, _ = read_audio(tmp_path / "out" / "a.wav")
    np.testing.assert_array_equal(decoded, audio)
    write_audio(tmp_path / "a.flac", audio, 22050)
    decoded, _ = read_audio(tmp_path / "a.flac")
    np.testing.assert_allclose(decoded, audio, atol=2 ** -22)
    write_audio(tmp_path / "mono.wav", audio[0], 22050)
    assert read_audio(tmp_path / "mono.wav")[0].shape == (1, audio.shape[1])


def test_failed_write_keeps_existing_file(tmp_path, monkeypatch):
    path = tmp_path / "a.wav"
    write_audio(path, tone(1, 8000), 8000)
    before = path.read_bytes()

    def write_half_then_fail(file, data, *args, **kwargs):
        with open(file, "wb") as handle:
            handle.write(b"RIFF half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(soundfile, "write", write_half_then_fail)
    with pytest.raises(RuntimeError):
        write_audio(path, tone(1, 8000, seconds=1), 8000)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]  # no temp file left behind


def test_write_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="wav or .flac"):
        write_audio(tmp_path / "a.mp3", tone(1, 8000), 8000)


def test_missing_file(tmp_path):
    with pytest.raises(MediaNotFoundError, match="no such file"):
        read_audio(tmp_path / "absent.wav")
    with pytest.raises(MediaNotFoundError, match="not a file"):
        read_audio(tmp_path)


def test_text_file_named_mp4(text_as_mp4):
    with pytest.raises(UndecodableMediaError) as error:
        read_audio(text_as_mp4)
    assert "\n" not in str(error.value) and str(text_as_mp4) in str(error.value)


def test_video_without_sound(silent_video):
    with pytest.raises(NoAudioStreamError, match="no audio stream"):
        read_audio(silent_video)


def test_empty_inputs(empty_file, zero_sample_wav):
    with pytest.raises(EmptyMediaError, match="empty file"):
        read_audio(empty_file)
    with pytest.raises(EmptyMediaError, match="no audio samples"):
        read_audio(zero_sample_wav)


@pytest.mark.parametrize("name, rate, seconds", [("pianist_20s.mp4", 44100, 20), ("raga_trio_10s.mp4", 48000, 10)])
def test_real_video_soundtracks(name, rate, seconds):
    path = shared_file(f"data/video/{name}")
    audio, native = read_audio(path)
    assert native == rate and audio.shape[0] == 2
    assert abs(audio.shape[1] / rate - seconds) < 0.1
    assert 0.01 < np.abs(audio).max() <= 1.5
    resampled, _ = read_audio(path, sample_rate=22050)
    assert resampled.shape == (2, round(audio.shape[1] * 22050 / rate))


def test_real_urmp_excerpt_is_read_exactly():
    path = shared_file("data/urmp_excerpts/reference/12_mix.wav")
    expected, rate = soundfile.read(path, dtype="float32", always_2d=True)
    audio, native = read_audio(path)
    assert native == rate == 48000
    np.testing.assert_allclose(audio, expected.T, atol=1e-7)


def test_prefetch_keeps_order_runs_ahead_in_another_thread_and_passes_errors_on():
    import threading

    from audio.stream import prefetch

    threads = []

    def produce():
        for value in range(5):
            threads.append(threading.current_thread().name)
            yield value
        raise ValueError("broken at the end")

    got = []
    with pytest.raises(ValueError, match="broken at the end"):
        for value in prefetch(produce()):
            got.append(value)
    assert got == [0, 1, 2, 3, 4]
    assert set(threads) == {"avsep-prefetch"} and threading.current_thread().name not in threads


def test_audio_stream_decodes_blocks_equal_to_whole_decoding(tmp_path):
    from audio.stream import AudioStream, BlockWriter

    audio = np.random.default_rng(0).normal(0, 0.1, (2, 48000 * 3 + 17)).astype(np.float32)
    write_audio(tmp_path / "in.wav", audio, 48000)
    stream = AudioStream(tmp_path / "in.wav", block_s=0.7)
    blocks = list(stream)
    assert stream.sample_rate == 48000 and stream.nb_channels == 2 and stream.nb_samples == audio.shape[1]
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), audio)
    writer = BlockWriter(tmp_path / "out.wav", 48000, 2)
    for block in blocks:
        writer.write(block)
    writer.finish(audio.shape[1] - 100)
    np.testing.assert_array_equal(read_audio(tmp_path / "out.wav")[0], audio[:, :-100])
