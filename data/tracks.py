"""Tracks: a mixture, its stems by instrument, and presence, behind one interface.

Every dataset reader (:mod:`data.readers`) returns :class:`Track` objects, which read lazily.
``mixture()`` is float32 ``(nb_channels, nb_samples)``; ``targets()`` is float32
``(K, nb_channels, nb_samples)`` in vocabulary order, stems of the same instrument summed (two
violins are one "vn" target) and absent instruments silent; ``presence`` is the hard ``(K,)``
vector of the vocabulary instruments in the ensemble.

A stem's ``label`` is a vocabulary code when the instrument is one of ours, else the dataset's
own name for it (MUSDB's "vocals", MedleyDB's "piano"). Such stems are part of the mixture and
of ``stems()`` but have no target and no presence: to our model they are accompaniment.

Splits never share a group: a track's ``group`` is its piece (URMP ``NN_Title``), its score (our
synthetic data), its artist (MedleyDB) or its own name.
"""
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audio.io import read_audio
from fusion.instruments import CODES, NB_INSTRUMENTS, index_of, parse_urmp_name, presence_vector

# The test pieces of the seed's code (Slizovskaia et al.) for real URMP.
URMP_TEST_PIECES = ("01_Jupiter", "09_Jesus", "13_Hark", "16_Surprise", "18_Nocturne", "24_Pirates", "28_Fugue",
                    "31_Slavonic", "35_Rondeau", "42_Arioso", "44_K515")


@dataclass(frozen=True)
class Stem:
    """One recorded part.

    Attributes:
        label: a vocabulary code (``"vn"``), or the dataset's name for another source (``"vocals"``).
        path: the file holding it.
        stream: which audio stream of the file (MUSDB's ``.stem.mp4`` holds five).
    """

    label: str
    path: Path
    stream: int = 0

    @property
    def code(self):
        """The vocabulary code, or None for a source outside the vocabulary."""
        return self.label if self.label in CODES else None

    def read(self, sample_rate=None):
        """``(nb_channels, nb_samples)`` float32 at ``sample_rate`` (None: the file's own)."""
        return read_audio(self.path, sample_rate, stream=self.stream)[0]


@dataclass
class Track:
    """One piece: where its audio is and what plays in it.

    Attributes:
        name: e.g. ``"01_Jupiter_vn_vc"``.
        parts: :class:`Stem` list, one per player or source, in score order.
        mix: the mixture as a :class:`Stem`, or None when the mix is the sum of the parts.
        sample_rate: rate to read at (None: the files' own).
        group: what must not cross a split (piece, score, artist); defaults to ``name``.
        dataset: which reader made it (``"urmp"``, ``"musdb"``, ``"medleydb"``, ``"bach10"``).
    """

    name: str
    parts: list = field(default_factory=list)
    mix: Stem = None
    sample_rate: int = None
    group: str = None
    dataset: str = "urmp"

    def __post_init__(self):
        self.group = self.group or self.name

    @property
    def codes(self):
        """The vocabulary instruments of the players in score order (repeats kept)."""
        return tuple(part.code for part in self.parts if part.code)

    @property
    def labels(self):
        """Every part's label, vocabulary or not."""
        return tuple(part.label for part in self.parts)

    @property
    def presence(self):
        """``(K,)`` float32, 1 for each vocabulary instrument in the ensemble."""
        return presence_vector(self.codes)

    def stems(self):
        """``[(label, audio (nb_channels, nb_samples))]`` per part, all padded to the same length."""
        stems = [(part.label, part.read(self.sample_rate)) for part in self.parts]
        length = max((audio.shape[1] for _, audio in stems), default=0)
        return [(label, np.pad(audio, ((0, 0), (0, length - audio.shape[1])))) for label, audio in stems]

    def targets(self):
        """``(K, nb_channels, nb_samples)``: vocabulary stems summed per instrument, zeros elsewhere."""
        return self._targets(self.stems())

    def mixture(self):
        """``(nb_channels, nb_samples)``: the mix file, cut or padded to the stems' length."""
        return self._mixture(self.stems())

    def mixture_and_targets(self):
        """``(mixture(), targets())`` from one decoding of the stems."""
        stems = self.stems()
        return self._mixture(stems), self._targets(stems)

    @staticmethod
    def _targets(stems):
        nb_channels, nb_samples = stems[0][1].shape
        targets = np.zeros((NB_INSTRUMENTS, nb_channels, nb_samples), dtype=np.float32)
        for label, audio in stems:
            if label in CODES:
                targets[index_of(label)] += audio
        return targets

    def _mixture(self, stems):
        if self.mix is None:
            return sum(audio for _, audio in stems)
        mix = self.mix.read(self.sample_rate)
        length = stems[0][1].shape[1] if stems else mix.shape[1]
        return np.pad(mix, ((0, 0), (0, max(0, length - mix.shape[1]))))[:, :length]


def split_tracks(tracks, test_pieces=URMP_TEST_PIECES):
    """``(train, test)`` of real URMP: tracks whose piece (``NN_Title``) is in ``test_pieces`` test."""
    test = [t for t in tracks if parse_urmp_name(t.name).piece in test_pieces]
    return [t for t in tracks if t not in test], test


def held_out_fraction(group):
    """A stable number in [0, 1) for a group name (the same on every machine and run)."""
    digest = hashlib.sha256(group.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def validation_split(tracks, fraction=0.05):
    """``(train, validation)``: about ``fraction`` of the groups validate, by a stable hash.

    No group (score, piece, artist) is in both. With two or more groups, at least one validates
    and at least one trains.
    """
    groups = sorted({t.group for t in tracks}, key=held_out_fraction)
    chosen = {g for g in groups if held_out_fraction(g) < fraction}
    if len(groups) > 1:
        chosen = chosen or {groups[0]}
        chosen = chosen if len(chosen) < len(groups) else chosen - {groups[-1]}
    return [t for t in tracks if t.group not in chosen], [t for t in tracks if t.group in chosen]
