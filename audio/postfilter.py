"""Wiener post-filter: re-estimate the stems from the mixture with the separator's stems as source models.

What Open-Unmix does after its network, with sigsep's ``norbert``: the power spectrograms of
the estimates become the source models of a Wiener filter (soft masks, each source's share of
the power in each bin, optionally refined by ``iterations`` EM passes) applied to the mixture's STFT. The filtered stems add up to the
mixture; each keeps the mixture's phase where it dominates. The STFT is the NMF baseline's
(``audio.nmf.spectrogram``: 93 ms Hann windows, 75% overlap). Long inputs are filtered in blocks of
:data:`BLOCK_S` seconds, so memory stays bounded; the separation job filters each block as soon as the
network has given its stems (:class:`StreamFilter`), so the filter and the network share the cores.

With an :class:`NmfBlend`, each instrument's source model is first mixed with supervised NMF's
estimate of it from the same block (``audio.nmf``: dictionaries learned from recorded notes), so
the filter hears two separators: the network where it is sure, NMF's templates where it is not.

The separator's stems are mono; the filter's are not: each channel of the mixture is shared out
with the same masks, so a stereo mixture gives stereo stems that keep each instrument where the
mixture has it, and whose downmix is the mono filter's result. All arrays are float32
``(nb_channels, nb_samples)`` at one rate.
"""
import queue
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from audio.io import resample
from audio.nmf import DEFAULT_DICTIONARIES, inverse, load_dictionaries, nmf_separate, spectrogram
from common.errors import AvsepError

BLOCK_S = 15.0
# NMF's multiplicative updates per block in the blend: 25 scored as 100 did on every held-out set
# (benchmarks/held_out.py, 2026-12-02: within 0.04 dB, none lower) at a quarter of the cost
BLEND_NMF_ITERATIONS = 25
# Added to the summed source power under each mask. norbert's default is the STFT's own epsilon: 1.2e-7
# for our single-precision one, which zeroes the quiet bins of every stem. Float64's (2.2e-16) shares them
# out instead: real excerpts 5.99 against 5.91 dB, the other held-out sets within 0.01 dB (2026-12-02).
MASK_EPS = float(np.finfo(np.float64).eps)


class NmfBlend:
    """NMF's stems mixed into the separator's before the Wiener filter: ``(1 - weight) * separator
    + weight * NMF``, NMF explaining the same block of the mixture with the instruments' fixed
    dictionaries (:func:`audio.nmf.nmf_separate`, at the dictionaries' rate, resampled back).
    Where the separator's stem is exactly silent (presence says the player rests), it stays silent.

    Args:
        weight: NMF's share, in (0, 1].
        dictionaries: a ``.npz`` from ``python -m pipelines.baselines learn-nmf`` (default: the shipped one).
        iterations: NMF's multiplicative updates per call.
    """

    def __init__(self, weight, dictionaries=DEFAULT_DICTIONARIES, iterations=BLEND_NMF_ITERATIONS):
        if not 0 < weight <= 1:
            raise AvsepError(f"the NMF blend's weight must be in (0, 1], not {weight}")
        if not Path(dictionaries).is_file():
            raise AvsepError(f"no NMF dictionaries at {dictionaries}")
        self.weight, self.iterations = weight, iterations
        self.dictionaries, self.sample_rate = load_dictionaries(dictionaries)

    def __call__(self, mixture, stems, sample_rate):
        """``{code: (1, nb_samples)}`` float32: ``stems`` blended with NMF's estimates from ``mixture``.

        Args:
            mixture: ``(nb_channels, nb_samples)`` at ``sample_rate``.
            stems: ``{code: (1, nb_samples)}``; codes without a dictionary are kept as they are.
        """
        mono = resample(mixture.mean(axis=0, keepdims=True), sample_rate, self.sample_rate)[0]
        found = nmf_separate(mono, self.sample_rate, self.dictionaries, list(stems), self.iterations)
        blended = {}
        for code, stem in stems.items():
            if code not in found:
                blended[code] = stem
                continue
            nmf = resample(found[code][None], self.sample_rate, sample_rate)[0]
            nmf = np.pad(nmf, (0, max(0, stem.shape[1] - len(nmf))))[:stem.shape[1]]
            playing = stem != 0  # the separator gives exact silence where presence says a player rests
            blended[code] = ((1 - self.weight) * stem + self.weight * nmf[None] * playing).astype(np.float32)
        return blended

    def __str__(self):
        return f"NMF blend {self.weight:g}"


def wiener_postfilter(mixture, stems, sample_rate, iterations=0, blend=None):
    """Stems re-estimated from the mixture, with its channels.

    Args:
        mixture: ``(nb_channels, nb_samples)``.
        stems: ``{code: (1, nb_samples)}`` from the separator: the source models, for every channel.
        sample_rate: Hz, of both.
        iterations: EM refinements after the soft masks. 0 (soft masks only) by default: on the
            real URMP excerpts one EM pass on the mono mix cut whole-track SDR by 2-6 dB per stem,
            where soft masks alone raised most stems.
        blend: an :class:`NmfBlend` to mix into the stems first, or None.

    Returns:
        ``{code: (nb_channels, nb_samples)}`` float32, the same codes; with fewer than two codes,
        ``stems`` as they are (one source takes the whole mixture: nothing to share out).
    """
    codes = list(stems)
    if len(codes) < 2:
        return stems
    if blend is not None:
        stems = blend(mixture, stems, sample_rate)
    nb_channels, nb_samples = mixture.shape
    block = int(BLOCK_S * sample_rate)
    out = {code: np.zeros((nb_channels, nb_samples), np.float32) for code in codes}
    for start in range(0, nb_samples, block):
        stop = min(nb_samples, start + block)
        mix_spec = spectrogram(mixture[:, start:stop], sample_rate)  # (nb_channels, nb_bins, nb_frames)
        power = np.stack([np.abs(spectrogram(stems[c][0, start:stop], sample_rate)) ** 2 for c in codes])
        for index, spec in enumerate(filtered_spectra(power, mix_spec, iterations)):
            out[codes[index]][:, start:stop] = inverse(spec, sample_rate, stop - start)
    return out


def filtered_spectra(power, mix_spec, iterations=0):
    """Each source's share of the mixture's STFT.

    Args:
        power: float32 ``(nb_sources, nb_bins, nb_frames)``, the source models' power spectrograms.
        mix_spec: complex64 ``(nb_channels, nb_bins, nb_frames)``, the mixture's STFT.
        iterations: EM refinements (``norbert.wiener``); 0: soft masks only.

    Returns:
        complex64 ``(nb_sources, nb_channels, nb_bins, nb_frames)``.

    The soft masks are ``norbert.softmask``'s, computed in real arithmetic: norbert divides by the
    summed power cast to complex, which costs the post-filter a third of its time and gives the same
    numbers to float32 rounding (tests/test_postfilter.py).
    """
    if iterations:
        import norbert

        filtered = norbert.wiener(power.transpose(2, 1, 0)[:, :, None, :], mix_spec.transpose(2, 1, 0),
                                  iterations=iterations, eps=MASK_EPS)  # (nb_frames, nb_bins, nb_channels, nb_sources)
        return filtered.transpose(3, 2, 1, 0)
    share = power / (MASK_EPS + power.sum(axis=0))
    return share[:, None] * mix_spec[None]


class StreamFilter:
    """:func:`wiener_postfilter` on a mixture and stems that arrive in pieces, beside the separator.

    As the separator yields its stems, each :data:`BLOCK_S`-second block of them and of the mixture
    goes to ``workers`` threads (the FFTs and the masks release the GIL), so the filter runs while
    the network computes the next blocks; the filtered blocks go to ``write`` in order. The blocks
    are those :func:`wiener_postfilter` would cut from the whole track, so the result is the same.
    Memory is bounded: at most ``workers + 1`` blocks wait. A context manager: on leaving, the
    threads stop (after an error, unfinished blocks are dropped). Its threads each run one BLAS
    thread (NMF's products in a blend: BLAS's own threads on top of the separator's oversubscribe
    the cores).

    Args:
        sample_rate: Hz, of the mixture and the stems.
        codes: the stems' codes; at least two (one source takes the whole mixture: nothing to filter).
        write: called with ``{code: float32 (nb_channels, n)}``, the next filtered samples of every stem.
        iterations, blend: as for :func:`wiener_postfilter`.
    """

    def __init__(self, sample_rate, codes, write, iterations=0, blend=None, workers=1):
        if len(codes) < 2:
            raise ValueError("the Wiener filter shares a mixture among two stems or more")
        self.sample_rate, self.write = sample_rate, write
        self.iterations, self.blend, self.workers = iterations, blend, workers
        self.block = int(BLOCK_S * sample_rate)
        self.incoming = queue.SimpleQueue()  # mixture blocks, from whichever thread decodes them
        self.mixture = _Samples()
        self.stems = {code: _Samples() for code in codes}
        self.pending = deque()

    def __enter__(self):
        self.blas_limit = threadpool_limits(limits=1, user_api="blas")
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="avsep-wiener")
        return self

    def __exit__(self, *error):
        self.pool.shutdown(cancel_futures=True)
        self.blas_limit.unregister()

    def add_mixture(self, block):
        """The mixture's next samples, float ``(nb_channels, n)``; safe to call from another thread."""
        self.incoming.put(np.asarray(block, np.float32))

    def add_stems(self, pieces):
        """The stems' next samples, ``{code: float (1, n)}``; filters every block now complete."""
        for code, piece in pieces.items():
            self.stems[code].append(piece)
        self._take_mixture()
        while min(len(self.mixture), *(len(stem) for stem in self.stems.values())) >= self.block:
            self._submit(self.block)

    def finish(self, nb_samples):
        """Filter the rest, once the mixture is all added: the stems are cut or padded to the mixture's
        ``nb_samples`` (the resamplers' rounding), and every filtered stem ends that long."""
        self._take_mixture()
        rest = len(self.mixture)
        if self.mixture.total != nb_samples:
            raise ValueError(f"the filter was given {self.mixture.total} mixture samples, not {nb_samples}")
        for stem in self.stems.values():
            stem.fit(nb_samples)
        for start in range(0, rest, self.block):
            self._submit(min(self.block, rest - start))
        while self.pending:
            self.write(self.pending.popleft().result())

    def _take_mixture(self):
        while not self.incoming.empty():
            self.mixture.append(self.incoming.get())

    def _submit(self, nb_samples):
        mixture = self.mixture.take(nb_samples)
        stems = {code: stem.take(nb_samples) for code, stem in self.stems.items()}
        self.pending.append(self.pool.submit(wiener_postfilter, mixture, stems, self.sample_rate, self.iterations,
                                             self.blend))
        while len(self.pending) > self.workers:
            self.write(self.pending.popleft().result())


class _Samples:
    """Samples ``(nb_channels, n)`` appended in pieces and taken from the front."""

    def __init__(self):
        self.pieces, self.held, self.total = [], 0, 0  # total: every sample ever appended

    def __len__(self):
        return self.held

    def append(self, piece):
        self.pieces.append(piece)
        self.held += piece.shape[1]
        self.total += piece.shape[1]

    def take(self, nb_samples):
        joined = np.concatenate(self.pieces, axis=1)
        self.pieces, self.held = [joined[:, nb_samples:]], self.held - nb_samples
        return joined[:, :nb_samples]

    def fit(self, nb_samples):
        """Cut or pad with zeros so that ``nb_samples`` have been appended in all."""
        if self.total > nb_samples:
            self.held -= self.total - nb_samples
            self.pieces, self.total = [np.concatenate(self.pieces, axis=1)[:, :self.held]], nb_samples
        elif self.total < nb_samples:
            channels = self.pieces[-1].shape[0] if self.pieces else 1
            self.append(np.zeros((channels, nb_samples - self.total), np.float32))
