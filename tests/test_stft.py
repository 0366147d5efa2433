"""audio/stft.py: scipy's legacy STFT pair (Hann, quarter-window hop, zero boundaries), in float32."""
import numpy as np
import pytest
from scipy.signal import istft as scipy_istft
from scipy.signal import stft as scipy_stft

from audio.stft import istft, stft


@pytest.mark.parametrize("n_fft, nb_samples", [(2048, 33075), (2048, 2049), (256, 256), (64, 1000)])
def test_the_transform_is_scipys_in_single_precision_and_inverts_to_the_signal(n_fft, nb_samples):
    audio = np.random.default_rng(nb_samples).standard_normal((2, nb_samples)).astype(np.float32)
    expected = scipy_stft(audio, nperseg=n_fft, noverlap=n_fft * 3 // 4, boundary="zeros")[2]
    spectra = stft(audio, n_fft)
    assert spectra.dtype == np.complex64 and spectra.shape == expected.shape
    np.testing.assert_allclose(spectra, expected, atol=1e-6 * np.abs(expected).max())
    back = istft(spectra, n_fft, nb_samples)
    expected_back = scipy_istft(expected, nperseg=n_fft, noverlap=n_fft * 3 // 4, boundary=True)[1][..., :nb_samples]
    assert back.dtype == np.float32 and back.shape == audio.shape
    np.testing.assert_allclose(back, expected_back, atol=1e-5)
    np.testing.assert_allclose(back, audio, atol=1e-5)


def test_the_inverse_pads_with_silence_past_the_frames_and_cuts_to_the_length_asked():
    audio = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    spectra = stft(audio, 256)
    np.testing.assert_allclose(istft(spectra, 256, 500), audio[:500], atol=1e-5)
    longer = istft(spectra, 256, 1500)
    np.testing.assert_allclose(longer[:1000], audio, atol=1e-5)
    assert np.abs(longer[1200:]).max() == 0
