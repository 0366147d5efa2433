"""The short-time Fourier transform of the NMF baseline and the Wiener post-filter, in single precision.

The same transform as ``scipy.signal.stft`` / ``istft`` with a periodic Hann window, a hop of a
quarter window, ``boundary="zeros"``, ``padded=True`` and "spectrum" scaling (frames scaled by
1 / sum(window)), but vectorised and in float32 / complex64: framing is a strided view and
overlap-add is four shifted sums (the hop divides the window), where scipy's legacy functions
work in double precision and overlap-add frame by frame. The post-filter's blocks spend most of
their time here (benchmarks/separate_speed.py). Results agree with scipy's to float32 precision
(tests/test_stft.py).
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft
from scipy.signal import get_window

OVERLAP = 4  # frames covering each sample: the hop is a quarter of the window


def _window(n_fft):
    return get_window("hann", n_fft).astype(np.float32)


def stft(audio, n_fft):
    """Complex64 ``(..., n_fft // 2 + 1, nb_frames)`` of float ``(..., nb_samples)``.

    The signal is extended by half a window of zeros at each end and by zeros up to a whole
    number of hops, as scipy does; frame ``k`` is centred on sample ``k * n_fft // 4``.
    """
    hop, half = n_fft // OVERLAP, n_fft // 2
    audio = np.asarray(audio, np.float32)
    extended = audio.shape[-1] + 2 * half
    tail = (-(extended - n_fft) % hop) % n_fft
    padded = np.pad(audio, [(0, 0)] * (audio.ndim - 1) + [(half, half + tail)])
    frames = sliding_window_view(padded, n_fft, axis=-1)[..., ::hop, :]  # (..., nb_frames, n_fft)
    window = _window(n_fft)
    spectra = fft.rfft(frames * (window / window.sum()), axis=-1)
    return np.swapaxes(spectra, -1, -2)


def istft(spectra, n_fft, nb_samples):
    """Float32 ``(..., nb_samples)`` from :func:`stft`'s ``(..., n_fft // 2 + 1, nb_frames)``: windowed
    overlap-add divided by the summed squared windows (cut or zero-padded to ``nb_samples``)."""
    hop, half = n_fft // OVERLAP, n_fft // 2
    window = _window(n_fft)
    frames = fft.irfft(np.swapaxes(spectra, -1, -2), n=n_fft, axis=-1) * (window * window.sum())
    nb_frames = frames.shape[-2]
    pieces = frames.reshape(*frames.shape[:-1], OVERLAP, hop)  # (..., nb_frames, 4, hop)
    summed = np.zeros((*frames.shape[:-2], nb_frames + OVERLAP - 1, hop), np.float32)
    norm = np.zeros((nb_frames + OVERLAP - 1, hop), np.float32)
    for quarter in range(OVERLAP):
        summed[..., quarter:quarter + nb_frames, :] += pieces[..., quarter, :]
        norm[quarter:quarter + nb_frames] += window[quarter * hop:(quarter + 1) * hop] ** 2
    audio = summed.reshape(*summed.shape[:-2], -1)[..., half:]
    norm = norm.reshape(-1)[half:]
    length = min(nb_samples, audio.shape[-1])
    out = np.zeros((*audio.shape[:-1], nb_samples), np.float32)
    out[..., :length] = audio[..., :length] / np.where(norm[:length] > 1e-10, norm[:length], 1)
    return out
