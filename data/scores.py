"""Multi-part scores as note lists: music21's corpus, or a user's MIDI/MusicXML folder.

A part is a float array ``(nb_notes, 4)`` of ``(onset, duration, pitch, slurred)`` with onset
and duration in quarter notes, pitch as a MIDI number, and slurred 1 when a slur joins the note
to the next one (0 otherwise, and always 0 for MIDI files, which have no slurs); times become
seconds only when a piece is performed (``data.synth``).
"""
import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import AvsepError

# music21 corpus composers whose works are ensemble pieces of 2+ independent parts:
# Bach chorales, Renaissance polyphony, madrigals, string quartets.
CORPUS_COMPOSERS = ("bach", "palestrina", "monteverdi", "haydn", "mozart", "beethoven", "josquin", "trecento",
                    "ciconia", "luca", "lusitano", "corelli", "handel", "schubert", "verdi", "weber")
SCORE_SUFFIXES = (".mid", ".midi", ".xml", ".musicxml", ".mxl", ".krn", ".abc")
TEST_FRACTION = 0.1


@dataclass
class Score:
    """A parsed score: an id for splits and names, and its parts' notes."""

    score_id: str
    parts: list  # of float arrays (nb_notes, 4): onset_ql, duration_ql, pitch, slurred
    tempo_qpm: float = None  # the score's own tempo mark, if any


def list_scores(folder=None):
    """Score ids: paths in music21's corpus (default), or files under ``folder``, sorted."""
    if folder is not None:
        paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in SCORE_SUFFIXES)
        if not paths:
            raise AvsepError(f"no scores ({', '.join(SCORE_SUFFIXES)}) under {folder}")
        return [str(p) for p in paths]
    from music21 import corpus

    root = Path(corpus.getComposer("bach")[0]).parents[1]
    paths = {Path(p) for composer in CORPUS_COMPOSERS for p in corpus.getComposer(composer)}
    return sorted(str(p.relative_to(root)) for p in paths)


def split_of(score_id):
    """``"test"`` for a stable ~10% of scores (by hash of the id), else ``"train"``."""
    digest = int(hashlib.sha1(score_id.encode()).hexdigest()[:8], 16)
    return "test" if digest % 1000 < TEST_FRACTION * 1000 else "train"


def load_score(score_id):
    """Parse a score (corpus-relative path or file) into note arrays, one per non-empty part."""
    from music21 import tempo

    try:
        score = parse_music21(score_id)
    except Exception:  # noqa: BLE001  (music21's pickle of it may be half-written by another worker)
        score = parse_music21(score_id, from_source=True)
    if hasattr(score, "scores"):  # an Opus: several scores in one file; take the first
        score = score.scores[0]
    parts = []
    for part in score.parts:
        slurred = slurred_onsets(part, score)
        notes = [(offset, float(n.quarterLength), p.midi, float(offset in slurred))
                 for n in part.stripTies().recurse().notes if n.quarterLength > 0
                 for offset in (float(n.getOffsetInHierarchy(score)),) for p in n.pitches]
        if notes:
            parts.append(np.array(sorted(notes), dtype=np.float64))
    marks = list(score.recurse().getElementsByClass(tempo.MetronomeMark))
    qpm = marks[0].getQuarterBPM() if marks and marks[0].number else None
    return Score(score_id=score_id, parts=parts, tempo_qpm=qpm)


def parse_music21(score_id, from_source=False):
    """music21's stream of a score file or corpus path: through music21's pickle cache, or with
    ``from_source`` from the file itself, reading and writing no cache (no race with other workers)."""
    from music21 import converter, corpus

    path = score_id if Path(score_id).is_file() else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if from_source:
            return converter.parse(path or corpus.getWork(score_id), forceSource=True, storePickle=False)
        return converter.parse(path) if path else corpus.parse(score_id)


def slurred_onsets(part, score):
    """Onsets (quarter notes) of the notes of ``part`` that a slur joins to the next note: all but a slur's last."""
    from music21 import spanner

    onsets = set()
    for slur in part.recurse().getElementsByClass(spanner.Slur):
        for note in slur.getSpannedElements()[:-1]:
            onsets.add(float(note.getOffsetInHierarchy(score)))
    return onsets


def title_of(score_id):
    """A URMP-style one-word title from a score id: ``bach/bwv269.mxl`` -> ``Bwv269``."""
    stem = Path(score_id).stem
    words = "".join(c if c.isalnum() else " " for c in stem).split()
    return "".join(word[:1].upper() + word[1:] for word in words) or "Untitled"


def draw_score_id(score_ids, rng):
    """Draw a score: a collection (top folder: the composer) with weight sqrt(its size), then a score in it.

    Drawing scores uniformly would let Palestrina's 1,318 masses drown Bach's chorales and the
    string quartets; drawing collections uniformly would overplay the one-score composers.
    """
    groups = {}
    for score_id in score_ids:
        groups.setdefault(Path(score_id).parts[0] if not Path(score_id).is_absolute() else str(Path(score_id).parent),
                          []).append(score_id)
    names = sorted(groups)
    weights = np.sqrt([len(groups[name]) for name in names])
    group = groups[names[rng.choice(len(names), p=weights / weights.sum())]]
    return group[rng.integers(len(group))]
