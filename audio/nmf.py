"""Supervised NMF separation, the seed's traditional baseline, and the ideal ratio mask (oracle).

NMF: each instrument has a dictionary of spectral templates ``W_k`` ``(nb_bins, rank)`` learned
from training stems (multiplicative updates, KL divergence). A mixture's magnitude spectrogram
``X`` is explained with the present instruments' dictionaries held fixed, ``X ~ sum_k W_k H_k``;
each instrument gets the soft mask ``W_k H_k / sum_j W_j H_j`` applied to the complex STFT.

All audio here is mono float32 ``(nb_samples,)``.
"""
from pathlib import Path

import numpy as np

from audio.stft import istft, stft
from fusion.instruments import CODES

DEFAULT_DICTIONARIES = Path(__file__).resolve().parents[1] / "models" / "nmf_dictionaries.npz"

WINDOW_S = 0.093  # STFT window: 2048 samples at 22.05 kHz, 4096 at 44.1 / 48 kHz
EPS = 1e-10


def fft_size(sample_rate):
    """Power of two closest to a 93 ms window at ``sample_rate``; hops are a quarter of it."""
    return 2 ** int(round(np.log2(WINDOW_S * sample_rate)))


def spectrogram(audio, sample_rate):
    """Complex64 STFT ``(..., nb_bins, nb_frames)`` of ``(..., nb_samples)`` (:mod:`audio.stft`): Hann window of :func:`fft_size`,
    75% overlap. Audio shorter than one window (the last block of a long file) is zero-padded to one:
    :func:`inverse` cuts it back."""
    n_fft = fft_size(sample_rate)
    audio = np.pad(audio, [(0, 0)] * (audio.ndim - 1) + [(0, max(0, n_fft - audio.shape[-1]))])
    return stft(audio, n_fft)


def inverse(spec, sample_rate, nb_samples):
    """Back to ``(..., nb_samples)`` float32 from a complex STFT ``(..., nb_bins, nb_frames)``."""
    return istft(spec, fft_size(sample_rate), nb_samples)


def kl_nmf(magnitude, rank=None, iterations=100, templates=None, seed=0):
    """KL-divergence NMF by multiplicative updates: ``magnitude ~ W @ H``.

    Args:
        magnitude: ``(nb_bins, nb_frames)`` non-negative.
        rank: components to learn (ignored when ``templates`` is given).
        templates: a fixed ``W`` ``(nb_bins, rank)``; then only ``H`` is learned.

    Returns:
        ``(W, H)``, ``H`` in the precision of ``W`` and ``magnitude`` together: float32 templates of a
        float32 spectrogram (separation) update in float32, three times as fast as in float64.
    """
    rng = np.random.default_rng(seed)
    learn_templates = templates is None
    W = rng.uniform(0.1, 1, (magnitude.shape[0], rank)) if learn_templates else templates
    H = rng.uniform(0.1, 1, (W.shape[1], magnitude.shape[1])).astype(np.result_type(W, magnitude))
    for _ in range(iterations):
        H *= (W.T @ (magnitude / (W @ H + EPS))) / (W.sum(axis=0)[:, None] + EPS)
        if learn_templates:
            W *= ((magnitude / (W @ H + EPS)) @ H.T) / (H.sum(axis=1)[None, :] + EPS)
            scale = W.sum(axis=0) + EPS
            W /= scale
            H *= scale[:, None]
    return W, H


def learn_dictionaries(stems_by_code, sample_rate, rank=24, iterations=150):
    """``{code: W}`` from ``{code: [mono stems]}``: one NMF per instrument on its concatenated stems."""
    dictionaries = {}
    for code, stems in stems_by_code.items():
        magnitude = np.abs(spectrogram(np.concatenate(stems), sample_rate))
        active = magnitude.sum(axis=0) > 1e-3 * magnitude.sum(axis=0).max()  # skip silent frames
        dictionaries[code] = kl_nmf(magnitude[:, active], rank, iterations)[0].astype(np.float32)
    return dictionaries


def nmf_separate(mixture, sample_rate, dictionaries, codes, iterations=100):
    """Separate a mono mixture into ``codes`` with their fixed dictionaries.

    Returns:
        ``{code: (nb_samples,)}``.
    """
    codes = [c for c in dict.fromkeys(codes) if c in dictionaries]
    spec = spectrogram(mixture, sample_rate)
    W = np.concatenate([dictionaries[c] for c in codes], axis=1)
    _, H = kl_nmf(np.ascontiguousarray(np.abs(spec)), templates=W, iterations=iterations)  # row-major: 1.5x faster
    total = W @ H + EPS
    estimates, first = {}, 0
    for code in codes:
        rank = dictionaries[code].shape[1]
        part = dictionaries[code] @ H[first:first + rank]
        estimates[code] = inverse(spec * part / total, sample_rate, len(mixture))
        first += rank
    return estimates


def ideal_ratio_mask(mixture, sample_rate, references):
    """Oracle upper bound: each source's power share of the STFT applied to the mixture.

    Args:
        mixture: ``(nb_samples,)``.
        references: ``{code: (nb_samples,)}`` true stems.
    """
    specs = {code: spectrogram(ref, sample_rate) for code, ref in references.items()}
    power = {code: np.abs(s) ** 2 for code, s in specs.items()}
    total = sum(power.values()) + EPS
    mix_spec = spectrogram(mixture, sample_rate)
    return {code: inverse(mix_spec * p / total, sample_rate, len(mixture)) for code, p in power.items()}


def piece_dictionary_nmf(mixture, sample_rate, references, rank=24, iterations=100):
    """Oracle: supervised NMF whose dictionaries are learned from this piece's own true stems.

    What knowing each player's timbre in this recording is worth, beside :func:`ideal_ratio_mask`
    (which also knows where each note is): the templates come from the references, the activations
    from the mixture alone, as :func:`nmf_separate` finds them.

    Args:
        mixture: ``(nb_samples,)``.
        references: ``{code: (nb_samples,)}`` true stems.

    Returns:
        ``{code: (nb_samples,)}``.
    """
    dictionaries = learn_dictionaries({code: [ref] for code, ref in references.items()}, sample_rate, rank,
                                      iterations)
    return nmf_separate(mixture, sample_rate, dictionaries, list(references), iterations)


def save_dictionaries(path, dictionaries, sample_rate):
    """``.npz`` with one array per code and the sample rate."""
    np.savez_compressed(path, sample_rate=sample_rate, **dictionaries)


def load_dictionaries(path):
    """``({code: W}, sample_rate)`` from :func:`save_dictionaries`, subnormal values set to 0.

    Learning leaves some template values below float32's smallest normal number (1e-45 and the
    like), and every product with one takes the processor's slow path: NMF's updates run 1.5x
    faster without them, and no estimate changes (they weigh less than 1e-38).
    """
    data = np.load(path)
    dictionaries = {c: data[c] for c in CODES if c in data}  # each access decompresses: once per code
    for templates in dictionaries.values():
        templates[np.abs(templates) < np.finfo(np.float32).tiny] = 0
    return dictionaries, int(data["sample_rate"])

