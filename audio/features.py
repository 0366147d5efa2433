"""Log-mel spectrograms for the instrument tagger. numpy only.

16 kHz mono in, ``(nb_frames, NB_MELS)`` float32 out: 1024-sample Hann frames every 320 samples
(20 ms), power on an HTK mel scale of 64 bands from 40 Hz to 8 kHz, in decibels floored at
-100 dB and scaled by 1/20 (so values sit around -5..0 for music at usual levels). The level is
kept absolute, not normalised per clip: silence must look silent to the tagger.
"""
import numpy as np

SAMPLE_RATE = 16000
N_FFT = 1024
HOP = 320
NB_MELS = 64
FMIN, FMAX = 40.0, 8000.0
FLOOR_DB = -100.0


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * (10 ** (np.asarray(mel) / 2595.0) - 1.0)


def mel_filterbank(sample_rate=SAMPLE_RATE, n_fft=N_FFT, nb_mels=NB_MELS, fmin=FMIN, fmax=FMAX):
    """Triangular filters ``(n_fft // 2 + 1, nb_mels)`` float32, each with unit area over its bins."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), nb_mels + 2))
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    low, centre, high = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None] - low) / (centre - low)
    falling = (high - bins[None]) / (high - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    return weights.T.astype(np.float32)


_FILTERBANK = mel_filterbank()
_WINDOW = np.hanning(N_FFT).astype(np.float32)


def nb_frames(nb_samples):
    """Frames :func:`log_mel` gives for ``nb_samples`` (>= N_FFT)."""
    return 1 + (nb_samples - N_FFT) // HOP


def log_mel(audio):
    """Log-mel features of 16 kHz audio.

    Args:
        audio: ``(..., nb_samples)`` float, 16 kHz, at least :data:`N_FFT` samples.

    Returns:
        float32 ``(..., nb_frames, NB_MELS)``, see the module docstring for the scale.
    """
    audio = np.asarray(audio, dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(audio, N_FFT, axis=-1)[..., ::HOP, :]
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=-1)) ** 2 / N_FFT
    mel = power.astype(np.float32) @ _FILTERBANK
    return (np.maximum(10 * np.log10(mel + 1e-12), FLOOR_DB) / 20.0).astype(np.float32)
