"""Reading, resampling and writing audio.

Arrays are float32 ``(nb_channels, nb_samples)`` everywhere. Any file ffmpeg decodes can be
read, the audio track of a video included: files libsndfile reads (WAV, FLAC, Ogg Vorbis and
Opus) are decoded by it directly, others through ffmpeg. Writing is atomic (temp file, then rename).
"""
import numpy as np
import soundfile
import soxr

from audio.stream import AudioStream
from common.errors import EmptyMediaError
from common.ffmpeg import check_media_file
from common.files import atomic_path

_LIBSNDFILE_SUFFIXES = (".wav", ".flac", ".ogg", ".opus")

_WRITE_FORMATS = {".wav": ("WAV", "FLOAT"), ".flac": ("FLAC", "PCM_24")}


def read_audio(path, sample_rate=None, nb_channels=None, stream=0):
    """Decode one audio stream of any media file (the first by default).

    Args:
        path: an audio file, or a video with a soundtrack.
        sample_rate: rate of the result in Hz; None keeps the file's own rate.
        nb_channels: 1 to downmix to mono (mean of channels); None keeps all channels.
        stream: index among the file's audio streams (a MUSDB ``.stem.mp4`` holds 5: mix, drums,
            bass, other, vocals).

    Returns:
        ``(audio, sample_rate)``: float32 array ``(nb_channels, nb_samples)`` and its rate.

    Raises:
        MediaNotFoundError, EmptyMediaError, UndecodableMediaError, NoAudioStreamError.
    """
    audio, file_rate = _decode(check_media_file(path), stream)
    if nb_channels == 1:
        audio = audio.mean(axis=0, keepdims=True)
    elif nb_channels is not None:
        raise ValueError(f"nb_channels must be None or 1, got {nb_channels}")
    if sample_rate is not None and sample_rate != file_rate:
        audio = resample(audio, file_rate, sample_rate)
        file_rate = sample_rate
    return audio, file_rate


def _decode(path, stream):
    """``(float32 (nb_channels, nb_samples), rate)``: libsndfile for its own formats (no ffmpeg
    process; also where no ffmpeg is, as on a bare GPU machine), else ffmpeg's pipe."""
    if stream == 0 and path.suffix.lower() in _LIBSNDFILE_SUFFIXES:
        try:
            audio, file_rate = soundfile.read(path, dtype="float32", always_2d=True)
        except soundfile.LibsndfileError:
            pass  # a file it cannot read (an unusual WAV codec): ffmpeg's turn
        else:
            if not len(audio):
                raise EmptyMediaError(f"no audio samples in {path}")
            return np.ascontiguousarray(audio.T), file_rate
    decoder = AudioStream(path, stream=stream)
    return np.concatenate(list(decoder), axis=1), decoder.sample_rate


def zero_non_finite(audio):
    """``(audio with NaN and inf samples set to 0, how many there were)``; any shape."""
    bad = ~np.isfinite(audio)
    count = int(bad.sum())
    if count:
        audio = np.where(bad, np.float32(0), audio)
    return audio, count


def resample(audio, from_rate, to_rate):
    """Band-limited resampling with libsoxr (high quality, linear phase, delay compensated).

    Args:
        audio: float array ``(nb_channels, nb_samples)`` at ``from_rate`` Hz.
        from_rate, to_rate: sample rates in Hz.

    Returns:
        float32 ``(nb_channels, round(nb_samples * to_rate / from_rate))`` at ``to_rate``.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if from_rate == to_rate:
        return audio
    resampled = soxr.resample(audio.T, from_rate, to_rate, quality="HQ")
    return np.ascontiguousarray(resampled.T, dtype=np.float32)


def write_audio(path, audio, sample_rate):
    """Write ``audio`` atomically: WAV as 32-bit float, FLAC as 24-bit PCM.

    Args:
        path: destination ending in ``.wav`` or ``.flac``; its folder is created.
        audio: float array ``(nb_channels, nb_samples)`` (a 1-D array is one channel).
        sample_rate: in Hz.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    suffix = str(path)[str(path).rfind("."):].lower()
    if suffix not in _WRITE_FORMATS:
        raise ValueError(f"cannot write {path}: use .wav or .flac")
    file_format, subtype = _WRITE_FORMATS[suffix]
    with atomic_path(path) as tmp:
        soundfile.write(tmp, audio.T, sample_rate, subtype=subtype, format=file_format)
