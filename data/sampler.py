"""Training batches with NumPy alone: for the JAX backend and machines without TensorFlow.

Stems are held in memory (mono float32). An example is a random crop of one track, or with
probability ``remix_probability`` a remix of two tracks' stems, keeping a random subset of the
instruments (at least one); every kept stem gets a random gain (with ``repitch_semitones``, a
random change of playback rate, :func:`repitched`; with ``eq_db``, a random equaliser:
:func:`random_equaliser`), the mix is their sum, and the presence labels follow the
instruments kept. Stems outside the vocabulary (a MedleyDB piano, MUSDB's drums) are summed
into one accompaniment per track that joins the mix (kept with the same probability, with its
own gain) but has no target and no label. Clips of instruments outside the vocabulary
(``accompaniment``: ``python -m data.accompaniment``'s piano, organ, voices...) join a share
``accompaniment_probability`` of the mixes the same way, with no target, at ``accompaniment_db``
relative to the ensemble: the players a real performance has beside ours. With
``false_presence_probability`` an example also names instruments that do not play (their targets
silent), as a tagger's false alarms do at inference, so the network learns to leave a named but
unheard instrument's stem quiet rather than fill it. Batch ``step`` depends
only on ``(seed, step)``, so a resumed run sees exactly the batches it would have seen.

A batch is ``(inputs, targets)``: ``inputs = {"mix": (B, input_length, 1), "presence": (B, K)}``
and ``targets`` ``(B, K, output_length, 1)``, float32, at the tracks' sample rate.
"""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm import tqdm

from audio.io import read_audio
from fusion.instruments import CODES, INSTRUMENTS, NB_INSTRUMENTS, index_of


SILENT_RMS = 1e-4  # -80 dBFS: a window this quiet sets no level
FALSE_PRESENCE_STREAM = 1  # third seed word of the random stream that draws false presence
FALSE_PRESENCE_POOLS = ("any", "family")  # what StemSampler's false_presence_pool may be


def read_clips(paths, sample_rate, progress=False, desc="loading accompaniment"):
    """Mono float32 arrays ``(nb_samples,)`` at ``sample_rate`` of the audio files at ``paths``."""
    return [read_audio(path, sample_rate=sample_rate, nb_channels=1)[0][0]
            for path in tqdm(paths, desc=desc, disable=not progress)]


def random_crop(rng, clips, length):
    """``length`` samples from a random place of a random one of ``clips`` (each at least ``length`` long)."""
    clip = clips[rng.integers(len(clips))]
    start = int(rng.integers(0, len(clip) - length + 1))
    return clip[start:start + length]


class StemSampler:
    """Random crops and remixes of in-memory stems.

    Args:
        tracks: :class:`data.tracks.Track` list, read at the model's sample rate.
        input_length, output_length: the model's window, in samples.
        batch_size: examples per batch.
        seed: base of every batch's random state.
        remix_probability: chance an example mixes stems of two tracks.
        gain_db: range of the random per-stem gain.
        keep_probability: chance each instrument is kept (at least one always is).
        eq_db: largest boost or cut of the random equaliser each kept stem gets, in dB; 0: none
            (and then the batches are exactly those of a sampler without it).
        repitch_semitones: largest shift of each kept stem's pitch and formants, in semitones, by
            playing it faster or slower (Demucs' "repitch"; its tempo changes with it); 0: none.
        sample_rate: the tracks' rate in Hz (places the equaliser's frequencies).
        accompaniment: mono float32 clips ``(nb_samples,)`` at ``sample_rate`` of instruments outside
            the vocabulary (:func:`read_clips`); those shorter than ``input_length`` are left out.
        accompaniment_probability: chance an example gets a crop of one of them; 0: never (and
            then the batches are exactly those of a sampler without clips).
        accompaniment_db: ``(low, high)`` range of the clip's RMS level relative to the ensemble's in
            the window, in dB (relative to its own level when the ensemble is silent there).
        false_presence_probability: chance an example's presence also names an instrument that is
            not in its mix (target silent); each further one is named with the same chance (so
            about ``p**n`` of examples name ``n`` or more); 0: never (and then the batches are
            exactly those of a sampler without it).
        false_presence_pool: ``"any"`` absent instrument, or ``"family"``: one of the family of an
            instrument that plays (a viola beside a violin: the tagger's usual mistake), any other
            when the family has none left.
        progress: show a bar while the stems load (decoding and resampling run in threads, one
            per core: libsndfile and libsoxr release the GIL).
    """

    def __init__(self, tracks, input_length, output_length, batch_size, seed=0, remix_probability=0.5,
                 gain_db=(-6.0, 3.0), keep_probability=0.75, eq_db=0.0, repitch_semitones=0.0,
                 sample_rate=22050, accompaniment=(), accompaniment_probability=0.0, accompaniment_db=(-12.0, 0.0),
                 false_presence_probability=0.0, false_presence_pool="any", progress=False):
        self.input_length, self.output_length = input_length, output_length
        self.context = (input_length - output_length) // 2
        self.batch_size, self.seed = batch_size, seed
        self.remix_probability, self.gain_db, self.keep_probability = remix_probability, gain_db, keep_probability
        self.eq_db, self.repitch_semitones, self.sample_rate = eq_db, repitch_semitones, sample_rate
        self.clips = [clip for clip in accompaniment if len(clip) >= input_length]
        self.accompaniment_probability, self.accompaniment_db = accompaniment_probability, accompaniment_db
        self.false_presence_probability, self.false_presence_pool = false_presence_probability, false_presence_pool
        with ThreadPoolExecutor(min(16, os.cpu_count() or 1)) as pool:
            self.tracks = list(tqdm(pool.map(self._load, tracks), total=len(tracks), desc="loading stems",
                                    disable=not progress))

    @staticmethod
    def _load(track):
        """``({vocabulary index: mono stem (nb_samples,)}, accompaniment (nb_samples,) or None, nb_samples)``.

        Same-instrument stems are summed; the accompaniment is the sum of the other stems.
        """
        targets, accompaniment, nb_samples = {}, None, 0
        for label, audio in track.stems():
            mono, nb_samples = audio.mean(axis=0), audio.shape[1]
            if label in CODES:
                targets[index_of(label)] = targets.get(index_of(label), 0) + mono
            else:
                accompaniment = mono if accompaniment is None else accompaniment + mono
        return targets, accompaniment, nb_samples

    def _crop(self, stem, start):
        """``input_length`` samples of ``stem`` from ``start``, zeros outside it."""
        crop = np.zeros(self.input_length, dtype=np.float32)
        lo, hi = max(start, 0), min(start + self.input_length, len(stem))
        if hi > lo:
            crop[lo - start:hi - start] = stem[lo:hi]
        return crop

    def example(self, rng):
        """One ``(mix (input_length,), presence (K,), targets (K, output_length))``."""
        nb_sources = 2 if rng.random() < self.remix_probability and len(self.tracks) > 1 else 1
        chosen = rng.choice(len(self.tracks), size=nb_sources, replace=False)
        crops, accompaniment = {}, None
        for track_index in chosen:
            targets, track_accompaniment, length = self.tracks[track_index]
            start = int(rng.integers(-self.context, max(length - self.output_length - self.context, -self.context) + 1))
            for index, stem in targets.items():
                crops[index] = crops.get(index, 0) + self._crop(stem, start)
            if track_accompaniment is not None:
                accompaniment = self._crop(track_accompaniment, start) + (0 if accompaniment is None else accompaniment)
        indices = sorted(crops)
        kept = [i for i in indices if rng.random() < self.keep_probability]
        if indices and not kept:
            kept = [indices[rng.integers(len(indices))]]
        mix = np.zeros(self.input_length, dtype=np.float32)
        if accompaniment is not None and (not indices or rng.random() < self.keep_probability):
            mix += accompaniment * np.float32(10 ** (rng.uniform(*self.gain_db) / 20))
        presence = np.zeros(NB_INSTRUMENTS, dtype=np.float32)
        targets = np.zeros((NB_INSTRUMENTS, self.output_length), dtype=np.float32)
        for index in kept:
            stem = crops[index] * np.float32(10 ** (rng.uniform(*self.gain_db) / 20))
            if self.repitch_semitones > 0:
                stem = repitched(stem, 2 ** (rng.uniform(-self.repitch_semitones, self.repitch_semitones) / 12))
            if self.eq_db > 0:
                stem = equalised(stem, random_equaliser(rng, len(stem), self.sample_rate, self.eq_db))
            mix += stem
            presence[index] = 1.0
            targets[index] = stem[self.context:self.context + self.output_length]
        if self.clips and self.accompaniment_probability > 0 and rng.random() < self.accompaniment_probability:
            mix += self._outsider(rng, mix)
        peak = np.abs(mix).max()
        if peak > 1.0:  # keep the mix in [-1, 1] like a recording
            mix, targets = mix / peak, targets / peak
        return mix, presence, targets

    def _false_alarms(self, rng, presence):
        """Indices of absent instruments to name anyway: each with chance ``false_presence_probability``,
        drawn one after another while the draws succeed, from ``false_presence_pool``."""
        named, families = [], {INSTRUMENTS[i].family for i in np.flatnonzero(presence)}
        absent = [int(i) for i in np.flatnonzero(presence == 0)]
        while absent and rng.random() < self.false_presence_probability:
            related = [i for i in absent if INSTRUMENTS[i].family in families]
            pool = related if self.false_presence_pool == "family" and related else absent
            named.append(pool[rng.integers(len(pool))])
            absent.remove(named[-1])
        return np.asarray(named, dtype=int)

    def _outsider(self, rng, ensemble):
        """A random ``input_length`` crop of an accompaniment clip, at a random level re ``ensemble``."""
        crop = random_crop(rng, self.clips, self.input_length)
        gain = 10 ** (rng.uniform(*self.accompaniment_db) / 20)
        ensemble_rms, crop_rms = np.sqrt(np.mean(ensemble ** 2)), np.sqrt(np.mean(crop ** 2))
        if ensemble_rms > SILENT_RMS and crop_rms > SILENT_RMS:
            gain *= ensemble_rms / crop_rms
        return crop * np.float32(gain)

    def batch(self, step):
        """Batch number ``step``: ``({"mix", "presence"}, targets)``."""
        rng = np.random.default_rng([self.seed, step])
        mixes, presences, targets = zip(*(self.example(rng) for _ in range(self.batch_size)))
        if self.false_presence_probability > 0:  # from a stream of its own: the mixes stay those without it
            alarms_rng = np.random.default_rng([self.seed, step, FALSE_PRESENCE_STREAM])
            for presence in presences:
                presence[self._false_alarms(alarms_rng, presence)] = 1.0
        inputs = {"mix": np.stack(mixes)[..., None], "presence": np.stack(presences)}
        return inputs, np.stack(targets)[..., None]


def repitched(signal, rate):
    """``signal`` ``(n,)`` played ``rate`` times as fast about its centre (linear interpolation).

    Pitch and formants rise by ``12 * log2(rate)`` semitones; where a fast replay runs past the
    ends of ``signal`` the result is silent, so a crop keeps its middle samples' timing.
    """
    centre = (len(signal) - 1) / 2
    positions = centre + (np.arange(len(signal)) - centre) * rate
    return np.interp(positions, np.arange(len(signal)), signal, left=0.0, right=0.0).astype(np.float32)


def random_equaliser(rng, nb_samples, sample_rate, max_db):
    """A random smooth gain per rFFT bin: a spectral tilt plus one bell, each within ``max_db``.

    The tilt turns about 1 kHz and reaches its full boost or cut 3 octaves away (a darker or
    brighter instrument or microphone); the bell sits between 150 Hz and 6 kHz, one octave wide
    (a body resonance, a room mode). Both are smooth in frequency, so their impulse response is
    short and filtering a crop by its spectrum barely wraps around.

    Returns:
        ``(nb_samples // 2 + 1,)`` float32 linear gains.
    """
    frequencies = np.maximum(np.fft.rfftfreq(nb_samples, 1.0 / sample_rate), 20.0)
    octaves_from_1k = np.clip(np.log2(frequencies / 1000.0) / 3.0, -1.0, 1.0)
    tilt_db = rng.uniform(-max_db, max_db) * octaves_from_1k
    centre = np.exp(rng.uniform(np.log(150.0), np.log(6000.0)))
    bell_db = rng.uniform(-max_db, max_db) * np.exp(-0.5 * (np.log2(frequencies / centre) / 0.5) ** 2)
    return (10 ** ((tilt_db + bell_db) / 20)).astype(np.float32)


def equalised(signal, gains):
    """``signal`` ``(n,)`` filtered by per-bin ``gains`` ``(n // 2 + 1,)``, as float32."""
    return np.fft.irfft(np.fft.rfft(signal) * gains, n=len(signal)).astype(np.float32)
