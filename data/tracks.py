"""Tracks: a mixture, its stems by instrument, and presence, behind one interface.

A :class:`Track` reads lazily. ``mixture()`` is float32 ``(nb_channels, nb_samples)``;
``targets()`` is float32 ``(K, nb_channels, nb_samples)`` in vocabulary order, stems of the same
instrument summed (two violins are one "vn" target) and absent instruments silent;
``presence`` is the hard ``(K,)`` vector of the instruments in the ensemble.

Readers: :func:`read_urmp` (real URMP or our synthetic data, same layout).
"""
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audio.io import read_audio
from common.errors import AvsepError, InvalidNameError, UnknownInstrumentError
from fusion.instruments import NB_INSTRUMENTS, index_of, parse_urmp_name, presence_vector

# The test pieces of the seed's code (Slizovskaia et al.) for real URMP.
URMP_TEST_PIECES = ("01_Jupiter", "09_Jesus", "13_Hark", "16_Surprise", "18_Nocturne", "24_Pirates", "28_Fugue",
                    "31_Slavonic", "35_Rondeau", "42_Arioso", "44_K515")


@dataclass
class Track:
    """One piece: where its audio is and what plays in it.

    Attributes:
        name: e.g. ``"01_Jupiter_vn_vc"``.
        mix_path: the mixture file, or None when the mix is the sum of the stems.
        stem_paths: ``[(code, path)]``, one per player.
        sample_rate: rate to read at (None: the files' own).
    """

    name: str
    mix_path: Path = None
    stem_paths: list = field(default_factory=list)
    sample_rate: int = None

    @property
    def codes(self):
        """The players' instruments in score order (repeats kept)."""
        return tuple(code for code, _ in self.stem_paths)

    @property
    def presence(self):
        """``(K,)`` float32, 1 for each instrument in the ensemble."""
        return presence_vector(self.codes)

    def stems(self):
        """``[(code, audio (nb_channels, nb_samples))]`` per player, all the same length."""
        stems = [(code, read_audio(path, self.sample_rate)[0]) for code, path in self.stem_paths]
        length = max(audio.shape[1] for _, audio in stems)
        return [(code, np.pad(audio, ((0, 0), (0, length - audio.shape[1])))) for code, audio in stems]

    def targets(self):
        """``(K, nb_channels, nb_samples)``: stems summed per instrument, zeros for absent ones."""
        stems = self.stems()
        nb_channels, nb_samples = stems[0][1].shape
        targets = np.zeros((NB_INSTRUMENTS, nb_channels, nb_samples), dtype=np.float32)
        for code, audio in stems:
            targets[index_of(code)] += audio
        return targets

    def mixture(self):
        """``(nb_channels, nb_samples)``: the mix file, cut or padded to the stems' length."""
        if self.mix_path is None:
            return sum(audio for _, audio in self.stems())
        mix, _ = read_audio(self.mix_path, self.sample_rate)
        length = self.stems()[0][1].shape[1] if self.stem_paths else mix.shape[1]
        return np.pad(mix, ((0, 0), (0, max(0, length - mix.shape[1]))))[:, :length]


def read_urmp(root, sample_rate=None):
    """Tracks of every piece folder (``NN_Title_codes``) under ``root``, sorted by name.

    Folders that are not URMP pieces are skipped; a piece folder without stems is an error.
    """
    root = Path(root)
    if not root.is_dir():
        raise AvsepError(f"no such dataset folder: {root}")
    tracks = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            parse_urmp_name(folder.name)
        except (InvalidNameError, UnknownInstrumentError):
            continue
        parts = [(parse_urmp_name(p.name), p) for p in folder.glob("AuSep_*") if p.suffix.lower() in (".wav", ".flac")]
        stems = sorted((name.part, name.code, path) for name, path in parts)
        if not stems:
            raise AvsepError(f"{folder} has no AuSep_ stems")
        mix = next(folder.glob("AuMix_*.wav"), None)
        tracks.append(Track(folder.name, mix, [(code, path) for _, code, path in stems], sample_rate))
    if not tracks:
        raise AvsepError(f"no URMP piece folders (like 01_Jupiter_vn_vc) in {root}")
    return tracks


def split_tracks(tracks, test_pieces=URMP_TEST_PIECES):
    """``(train, test)``: tracks whose piece id (``NN_Title``) is in ``test_pieces`` go to test."""
    test = [t for t in tracks if parse_urmp_name(t.name).piece in test_pieces]
    return [t for t in tracks if t not in test], test


def validation_split(tracks, fraction=0.05):
    """``(train, validation)`` of a synthetic set: every ``1/fraction``-th piece, by name, validates."""
    step = max(int(round(1 / fraction)), 2)
    validation = tracks[step - 1::step]
    return [t for t in tracks if t not in validation], validation
