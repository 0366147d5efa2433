"""Training batches for the instrument tagger (``audio.tagger``). numpy only.

An example is 3 s at 16 kHz and its labels: which instruments of the vocabulary are heard in
it. Ensembles come from a :class:`data.sampler.StemSampler` (crops and remixes of rendered
pieces, random subsets of players, random gains); an instrument is labelled present when it was
kept and its stem in the window reaches -26 dB re the loudest stem and -60 dBFS, so a player
resting through the window is absent. Around them, what real recordings add:

- an instrument outside the vocabulary (``data.accompaniment`` clips: piano, guitar, organ,
  voices...) with probability ``accompaniment_probability``, -12..+3 dB re the ensemble;
- examples with nothing of ours (``nothing_probability``): such a clip alone, or noise alone;
- real recorded phrases of our instruments (``phrases``, with probability ``phrase_probability``):
  one phrase alone (half of them: a solo) or over the ensemble at -6..+6 dB, heard through one of
  a few simulated halls in most examples, and labelled by the same rule as the stems;
- lines of single recorded notes (``notes``, with probability ``note_probability``): an instrument
  drawn uniformly, then its notes one after another (any pitch, dynamic and length the library
  has, short gaps between), alone or over the ensemble as a phrase is, so that every instrument
  is heard over its whole range and not only where the scores put it;
- a noise floor (half the examples, -75..-40 dBFS) and an overall level from -35 to 0 dB peak;
- on the features: a smooth random equalisation (a tilt and a slow ripple across the mel bands,
  up to about ±6 dB: other microphones, rooms and instrument bodies) and, in a fifth of the
  examples, everything above a random 4.5-8 kHz cut at the floor (band-limited or compressed
  sources).

Batch ``step`` depends only on ``(seed, step)``. A batch is ``(features (B, nb_frames, 64),
labels (B, K))`` float32 (features: ``audio.features.log_mel``).
"""
import numpy as np
from scipy.signal import fftconvolve
from tqdm import tqdm

from audio.features import FLOOR_DB, NB_MELS, SAMPLE_RATE, log_mel
from data.room import draw_room, room_impulses
from data.samples import decoded
from data.sampler import StemSampler, random_crop, read_clips
from fusion.instruments import NB_INSTRUMENTS, index_of

WINDOW_S = 3.0
NB_HALLS = 12  # impulse responses drawn once per sampler for the phrases
RELATIVE_FLOOR_DB = -26.0
ABSOLUTE_FLOOR = 10 ** (-60 / 20)


def heard(targets, presence):
    """Labels ``(K,)``: instruments kept in the mix whose stem reaches the floors. ``targets`` ``(K, nb_samples)``."""
    rms = np.sqrt(np.mean(targets ** 2, axis=1))
    loudest = rms.max()
    return ((presence > 0) & (rms >= ABSOLUTE_FLOOR) & (rms >= loudest * 10 ** (RELATIVE_FLOOR_DB / 20))).astype(np.float32)


def read_phrases(phrases, progress=False):
    """``[(instrument index, mono 16 kHz float32 array)]`` of ``[(code, path)]`` (``data.samples.recorded_phrases``)."""
    return [(index_of(code), clip) for (code, _), clip in
            zip(phrases, read_clips([path for _, path in phrases], SAMPLE_RATE, progress=progress,
                                    desc="loading phrases"))]


def read_notes(notes, progress=False):
    """``[(instrument index, mono 16 kHz float32 array)]`` of ``[(code, path)]`` (``data.samples.recorded_notes``),
    decoded by libsndfile with the silence around each note cut; a file that does not decode is left out."""
    found = [(index_of(code), decoded(str(path), SAMPLE_RATE))
             for code, path in tqdm(notes, desc="loading notes", disable=not progress)]
    return [(index, result[0]) for index, result in found if result is not None]


def hall_impulses(rng, count=NB_HALLS):
    """``count`` impulse responses at 16 kHz, each from one player to the microphone of a drawn hall."""
    return [room_impulses(draw_room(rng, 1), SAMPLE_RATE)[0] for _ in range(count)]


class TagSampler:
    """Random labelled windows for the tagger.

    Args:
        tracks: :class:`data.tracks.Track` list read at 16 kHz (rendered ensembles).
        clips: mono 16 kHz arrays of sounds outside the vocabulary (may be empty).
        batch_size: examples per batch.
        seed: base of every batch's random state.
        phrases: ``[(instrument index, mono 16 kHz array)]`` of real recorded playing (may be empty).
        notes: the same of single recorded notes (may be empty).
    """

    def __init__(self, tracks, clips, batch_size, seed=0, window_s=WINDOW_S, accompaniment_probability=0.3,
                 nothing_probability=0.1, phrases=(), phrase_probability=0.0, notes=(), note_probability=0.0,
                 progress=False):
        self.length = int(window_s * SAMPLE_RATE)
        self.ensembles = StemSampler(tracks, self.length, self.length, batch_size=1, seed=seed,
                                     remix_probability=0.5, keep_probability=0.5, progress=progress)
        self.clips = [clip for clip in clips if len(clip) >= self.length]
        self.batch_size, self.seed = batch_size, seed
        self.accompaniment_probability, self.nothing_probability = accompaniment_probability, nothing_probability
        self.phrases, self.phrase_probability = list(phrases), phrase_probability
        self.notes_by_instrument = {}
        for index, audio in notes:
            self.notes_by_instrument.setdefault(index, []).append(audio)
        self.note_probability = note_probability
        self.halls = hall_impulses(np.random.default_rng([seed, 1])) if self.phrases or notes else []

    def _phrase(self, rng):
        """``(instrument index, (length,) window)``: a recorded phrase, most often in a hall, somewhere in the window."""
        index, audio = self.phrases[rng.integers(len(self.phrases))]
        return index, self._place(rng, audio)

    def _note_line(self, rng):
        """``(instrument index, (length,) window)``: an instrument's recorded notes in a row, as a phrase is placed."""
        indices = sorted(self.notes_by_instrument)
        index = indices[rng.integers(len(indices))]
        notes, line, length = self.notes_by_instrument[index], [], 0
        while length < self.length:
            note = notes[rng.integers(len(notes))][:self.length]
            gap = np.zeros(int(rng.uniform(0.0, 0.3) * SAMPLE_RATE), np.float32)
            line += [note, gap]
            length += len(note) + len(gap)
        return index, self._place(rng, np.concatenate(line))

    def _place(self, rng, audio):
        """``(length,)``: ``audio`` through one of the halls (70% of the time), cropped or placed in the window."""
        if rng.random() < 0.7:
            audio = fftconvolve(audio, self.halls[rng.integers(len(self.halls))]).astype(np.float32)
        window = np.zeros(self.length, np.float32)
        if len(audio) >= self.length:
            start = rng.integers(0, len(audio) - self.length + 1)
            window[:] = audio[start:start + self.length]
        else:
            start = rng.integers(0, self.length - len(audio) + 1)
            window[start:start + len(audio)] = audio
        return window

    def _with_recording(self, rng, mix, presence, targets, index, recording):
        """The ensemble with a recording of instrument ``index`` over it, or the recording alone (a solo):
        ``(mix, presence, targets)``."""
        presence, targets = presence.copy(), targets.copy()
        if rng.random() < 0.5:
            mix, presence[:], targets[:] = np.zeros_like(mix), 0.0, 0.0
            gain = 1.0
        else:
            gain = np.sqrt(np.mean(mix ** 2) / (np.mean(recording ** 2) + 1e-12)) * 10 ** (rng.uniform(-6, 6) / 20)
        recording = recording * np.float32(gain)
        presence[index] = 1.0
        targets[index] += recording
        return mix + recording, presence, targets

    def example(self, rng):
        """``(mix (length,), labels (K,))``."""
        if rng.random() < self.nothing_probability:
            if self.clips and rng.random() < 0.8:
                mix = random_crop(rng, self.clips, self.length).copy()
            else:
                mix = np.zeros(self.length, np.float32)
            labels = np.zeros(NB_INSTRUMENTS, dtype=np.float32)
        else:
            mix, presence, targets = self.ensembles.example(rng)
            if self.phrase_probability > 0 and self.phrases and rng.random() < self.phrase_probability:
                mix, presence, targets = self._with_recording(rng, mix, presence, targets, *self._phrase(rng))
            if self.note_probability > 0 and self.notes_by_instrument and rng.random() < self.note_probability:
                mix, presence, targets = self._with_recording(rng, mix, presence, targets, *self._note_line(rng))
            labels = heard(targets, presence)
            if self.clips and rng.random() < self.accompaniment_probability:
                other = random_crop(rng, self.clips, self.length)
                gain = np.sqrt(np.mean(mix ** 2) / (np.mean(other ** 2) + 1e-12)) * 10 ** (rng.uniform(-12, 3) / 20)
                mix = mix + other * np.float32(gain)
        if rng.random() < 0.5:
            mix = mix + rng.normal(0, 10 ** (rng.uniform(-75, -40) / 20), self.length).astype(np.float32)
        peak = np.abs(mix).max()
        if peak > 0:
            mix = mix * np.float32(10 ** (rng.uniform(-35, 0) / 20) / peak)
        return mix.astype(np.float32), labels

    def batch(self, step):
        """Batch ``step``: ``(features (B, nb_frames, 64), labels (B, K))``."""
        rng = np.random.default_rng([self.seed, step])
        mixes, labels = zip(*(self.example(rng) for _ in range(self.batch_size)))
        return colour(log_mel(np.stack(mixes)), rng), np.stack(labels)


def colour(features, rng):
    """``features`` ``(B, nb_frames, NB_MELS)`` (log-mel / 20) with a random equalisation per example."""
    bands = np.linspace(-1.0, 1.0, NB_MELS)
    coloured = features.copy()
    for example in coloured:
        tilt, ripple = rng.uniform(-0.2, 0.2), rng.uniform(0, 0.1)  # in dB / 20: +-4 dB and 2 dB
        curve = tilt * bands + ripple * np.sin(np.pi * rng.uniform(0.5, 2.0) * bands + rng.uniform(0, 2 * np.pi))
        example += curve.astype(np.float32)
        if rng.random() < 0.2:
            example[:, rng.integers(int(0.8 * NB_MELS), NB_MELS):] = FLOOR_DB / 20
    return np.maximum(coloured, FLOOR_DB / 20)
