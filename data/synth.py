"""``python -m data.synth --out DIR --pieces N --seed S``: URMP-like ensembles rendered from scores.

Each piece takes an excerpt of a multi-part score (music21's corpus, or ``--scores DIR`` of
MIDI/MusicXML), gives 2 to 5 of its parts to URMP instruments whose range suits them
(transposed by octaves where needed), performs it with humanisation (a shared tempo curve,
onset jitter, per-part legato, slurs and dynamics), renders each part from a timbre source drawn
per part (recorded samples with ``--samples``, ``data.samples``; a SoundFont, ``data.render``),
applies per-stem gain and one room for the whole piece (``data.room``), and writes URMP's layout::

    DIR/NN_Title_codes/AuMix_NN_Title_codes.wav       the mix: exactly the sum of the stems
    DIR/NN_Title_codes/AuSep_i_code_NN_Title.wav      one stem per player, same length
    DIR/NN_Title_codes/meta.json                      score, excerpt, instruments, sources, room, seed

Piece ``i`` depends only on ``(seed, i)``, so the result is the same for any ``--workers``.
``--split test`` draws from a held-out ~10% of scores (``data.scores.split_of``); give it a
SoundFont that training did not use and the test set shares neither with training.
"""
import argparse
import multiprocessing
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from audio.io import write_audio
from common.cli import add_debug_flag, run_cli
from common.errors import AvsepError
from common.files import replace_folder, staging_folder, write_json
from data.render import find_soundfonts, render_notes
from data.room import add_noise_floor, apply_colour, apply_room, draw_microphone_colour, draw_room
from data.samples import SampleLibrary, check_coverage
from data.scores import draw_score_id, list_scores, load_score, split_of, title_of
from fusion.instruments import INSTRUMENTS, format_piece_name, instrument

OCTAVE_SHIFTS = {0: 1.0, -12: 0.5, 12: 0.5, -24: 0.15, 24: 0.15}  # preference for each transposition
MIN_NOTES_PER_PART = 4
LEGATO_OVERLAP_S = 0.04  # a slurred note sounds this long into the next one


def fitting_instruments(pitches, allowed_codes):
    """``[(code, shift, weight)]`` of instruments that play ``pitches`` when shifted by whole octaves."""
    fits = []
    for instrument in INSTRUMENTS:
        if instrument.code not in allowed_codes:
            continue
        for shift, weight in OCTAVE_SHIFTS.items():
            shifted = pitches + shift
            inside = np.mean((shifted >= instrument.lowest_pitch) & (shifted <= instrument.highest_pitch))
            if inside >= 0.97:
                fits.append((instrument.code, shift, weight))
    return fits


def choose_ensemble(parts, rng, nb_players_range=(2, 5), wind_ensembles=0.0):
    """Pick players: ``[(part_index, code, shift)]`` in score order (high parts first).

    With probability 0.3 the ensemble is strings only (quartet-like), with probability
    ``wind_ensembles`` woodwinds and brass only (wind quintets, brass quintets, saxophone
    quartets: URMP has them all); otherwise any family.
    """
    usable = [i for i, part in enumerate(parts) if len(part) >= MIN_NOTES_PER_PART]
    if len(usable) < nb_players_range[0]:
        return []
    nb_players = rng.integers(nb_players_range[0], min(nb_players_range[1], len(usable)) + 1)
    chosen = sorted(rng.choice(usable, size=nb_players, replace=False))
    draw = rng.random()
    families = ("strings",) if draw < 0.3 else ("woodwinds", "brass") if draw < 0.3 + wind_ensembles else \
        ("strings", "woodwinds", "brass")
    allowed = {i.code for i in INSTRUMENTS if i.family in families}
    players = []
    for part_index in chosen:
        fits = fitting_instruments(parts[part_index][:, 2], allowed) or fitting_instruments(
            parts[part_index][:, 2], {i.code for i in INSTRUMENTS})
        if not fits:
            continue
        weights = np.array([w for _, _, w in fits])
        code, shift, _ = fits[rng.choice(len(fits), p=weights / weights.sum())]
        players.append((int(part_index), code, shift))
    return players if len(players) >= nb_players_range[0] else []


def tempo_map(nb_quarters, qpm, rng):
    """Seconds at each quarter-note boundary, ``(nb_quarters + 1,)``, with a smooth tempo drift of a few %."""
    drift = np.cumsum(rng.normal(0, 0.01, nb_quarters + 1))
    drift = np.convolve(drift - drift.mean(), np.ones(8) / 8, mode="same")
    seconds_per_quarter = 60.0 / (qpm * (1 + np.clip(drift, -0.08, 0.08)))
    return np.concatenate([[0.0], np.cumsum(seconds_per_quarter[:nb_quarters])])


def perform(notes, shift, boundaries, rng):
    """Performed events ``(nb_notes, 5)``: start_s, end_s, pitch, velocity, slurred.

    Onsets jitter by about 15 ms around a per-player lag; notes are held 80-100% of their value,
    slurred ones up to the next onset plus a short overlap (the renderer crossfades them).
    """
    def to_seconds(quarters):
        return np.interp(quarters, np.arange(len(boundaries)), boundaries)

    legato = rng.uniform(0.8, 1.0)
    start = to_seconds(notes[:, 0]) + rng.normal(0, 0.015, len(notes)) + rng.normal(0, 0.006)
    start = np.maximum(start, 0.0)
    end = np.maximum(start + 0.06, start + (to_seconds(notes[:, 0] + notes[:, 1]) - to_seconds(notes[:, 0])) * legato)
    slurred = notes[:, 3] > 0
    onsets = np.unique(start)
    following = onsets[np.minimum(np.searchsorted(onsets, start, side="right"), len(onsets) - 1)]
    end = np.where(slurred & (following > start), np.maximum(end, following + LEGATO_OVERLAP_S), end)
    phrase = np.sin(2 * np.pi * start / rng.uniform(6, 16) + rng.uniform(0, 2 * np.pi))
    velocity = rng.uniform(55, 100) + 12 * phrase + rng.normal(0, 6, len(notes))
    return np.stack([start, end, notes[:, 2] + shift, np.clip(velocity, 20, 127), slurred], axis=1)


def excerpt(score, seconds, qpm, rng):
    """Notes of each part within a random window of about ``seconds``, shifted to start at 0."""
    length_q = seconds * qpm / 60.0
    last_q = max(part[:, 0].max() + part[:, 1].max() for part in score.parts)
    start_q = float(rng.integers(0, max(int(last_q - length_q), 0) + 1))
    parts = []
    for part in score.parts:
        keep = (part[:, 0] >= start_q) & (part[:, 0] < start_q + length_q)
        notes = part[keep].copy()
        notes[:, 0] -= start_q
        notes[:, 1] = np.minimum(notes[:, 1], length_q - notes[:, 0])
        parts.append(notes)
    return parts, start_q, length_q


def draw_source(code, pitches, soundfonts, libraries, sample_share, rng):
    """The timbre source of one part: a :class:`SampleLibrary` that can play it, or a SoundFont path.

    A library can play the part when it has a recording within a repitch of each of its MIDI
    ``pitches`` (a library of a few notes per instrument has gaps). With both kinds at hand,
    recorded samples are drawn with probability ``sample_share``. With libraries only and none
    that plays every note, one holding the instrument does (notes it cannot reach are left out).
    """
    holding = [library for library in libraries if library.can_play(code, pitches)]
    if not holding and not soundfonts:
        holding = [library for library in libraries if library.by_code[code]]
    if holding and (not soundfonts or rng.random() < sample_share):
        return holding[rng.integers(len(holding))]
    return soundfonts[rng.integers(len(soundfonts))]


def render_player(code, events, source, sample_rate, rng):
    """One player's part: ``(audio (nb_samples,), what meta.json says of its source)``."""
    if isinstance(source, SampleLibrary):
        style = source.choose_style(code, rng)
        tuning = float(rng.normal(0, 8))
        audio = source.render_part(code, events, sample_rate, rng, tuning_cents=tuning, style=style)
        return audio, {"source": source.source_name(code), "tuning_cents": round(tuning, 1),
                       "articulations": {kind: value for kind, value in style.items() if kind != "pizzicato"},
                       "pizzicato": bool(style["pizzicato"])}
    program = instrument(code).gm_program
    audio = render_notes(events[:, :4], program, source, sample_rate)
    return audio, {"source": Path(source).name, "soundfont": Path(source).name, "program": program}


def place_in_room(stems, sample_rate, rng, reverb):
    """Stems ``(nb_players, nb_samples)`` through one room, microphone and noise floor; with what was drawn."""
    drawn = {"room": None, "microphone": None, "noise_floor_db": None}
    if reverb and rng.random() < 0.9:
        drawn["room"] = draw_room(rng, len(stems))
        stems = apply_room(stems, drawn["room"], sample_rate)
    if rng.random() < 0.5:
        drawn["microphone"] = draw_microphone_colour(rng)
        stems = apply_colour(stems, drawn["microphone"], sample_rate)
    if rng.random() < 0.5:
        drawn["noise_floor_db"] = round(float(rng.uniform(-60, -40)), 1)
        stems = add_noise_floor(stems, drawn["noise_floor_db"], rng)
    return stems, drawn


def synthesize_piece(number, score_ids, soundfonts, libraries, sample_share, seed, sample_rate, seconds, reverb,
                     wind_ensembles=0.0):
    """Perform and render piece ``number``; return ``(title, codes, stems (nb_players, nb_samples), meta)``.

    Each part draws its timbre from the pool: ``soundfonts`` (paths) and ``libraries``
    (:class:`data.samples.SampleLibrary`).
    """
    rng = np.random.default_rng([seed, number])
    for _ in range(20):  # some excerpts have too few playable parts: draw again
        score_id = draw_score_id(score_ids, rng)
        try:
            score = load_score(score_id)
        except Exception:  # noqa: BLE001  (a corpus file music21 cannot read: draw another)
            continue
        if len(score.parts) < 2:
            continue
        qpm = (score.tempo_qpm or rng.uniform(60, 110)) * rng.uniform(0.9, 1.1)
        parts, start_q, length_q = excerpt(score, seconds, qpm, rng)
        players = choose_ensemble(parts, rng, wind_ensembles=wind_ensembles)
        if players:
            break
    else:
        raise AvsepError(f"piece {number}: no score with 2 playable parts found in 20 draws")
    boundaries = tempo_map(int(np.ceil(length_q)) + 8, qpm, rng)
    stems, used = [], []
    for part_index, code, shift in players:
        source = draw_source(code, parts[part_index][:, 2] + shift, soundfonts, libraries, sample_share, rng)
        events = perform(parts[part_index], shift, boundaries, rng)
        audio, source_meta = render_player(code, events, source, sample_rate, rng)
        rms = np.sqrt(np.mean(audio ** 2)) + 1e-8
        stems.append(audio / rms * 0.1 * 10 ** (rng.uniform(-6, 0) / 20))
        used.append({"part": part_index, "code": code, "octave_shift": shift, **source_meta, "nb_notes": len(events)})
    nb_samples = max(len(s) for s in stems)
    stems = np.stack([np.pad(s, (0, nb_samples - len(s))) for s in stems])  # rendered lengths differ a little
    stems, drawn = place_in_room(stems, sample_rate, rng, reverb)
    stems = (stems * rng.uniform(0.3, 0.9) / (np.abs(stems.sum(axis=0)).max() + 1e-8)).astype(np.float32)
    meta = {"score": score.score_id, "excerpt_quarters": [start_q, start_q + length_q], "tempo_qpm": round(qpm, 2),
            "players": used, **drawn, "seed": seed, "piece": number, "sample_rate": sample_rate}
    return title_of(score.score_id), tuple(p["code"] for p in used), stems, meta


def write_piece(out, number, title, codes, stems, meta, sample_rate):
    """Write one piece folder in URMP layout, atomically (a staging folder put into place whole).

    An earlier folder of the same piece number (``--force``) is replaced: one of the same name
    atomically, others (another title or ensemble) deleted first.
    """
    name = format_piece_name(number, title, codes)
    with staging_folder(out / name) as staging:
        write_audio(staging / f"AuMix_{name}.wav", stems.sum(axis=0, dtype=np.float32), sample_rate)
        for part, (code, stem) in enumerate(zip(codes, stems), start=1):
            write_audio(staging / f"AuSep_{part}_{code}_{number:02d}_{title}.wav", stem, sample_rate)
        write_json(staging / "meta.json", meta)
    for earlier in out.glob(f"{number:02d}_*"):
        if earlier.name != name:
            shutil.rmtree(earlier)
    replace_folder(staging, out / name)
    return out / name


def existing_piece(out, number):
    """The folder of piece ``number`` if it was written already."""
    return next(out.glob(f"{number:02d}_*"), None)


def _make_piece(job):
    """Worker: make (``make(number, **settings)``) and write one piece; ``(number, seconds of audio, error or None)``."""
    out, number, make, settings = job
    try:
        title, codes, stems, meta = make(number, **settings)
        sample_rate = settings["sample_rate"]
        write_piece(out, number, title, codes, stems, meta, sample_rate)
        return number, stems.shape[1] / sample_rate, None
    except Exception as error:  # noqa: BLE001  (one bad piece must not end a long run: it is reported)
        message = str(error) if isinstance(error, AvsepError) else f"{type(error).__name__}: {error}"
        return number, 0.0, message


def render_pieces(out, numbers, make, settings, workers, already=0):
    """Make and write pieces ``numbers`` in worker processes; print a summary and failures; the exit code.

    ``make(number, **settings)`` gives ``(title, codes, stems, meta)`` (:func:`synthesize_piece`).
    """
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(out, n, make, settings) for n in numbers]
    start, rendered, failures = time.monotonic(), 0.0, []
    with multiprocessing.get_context("spawn").Pool(max(1, workers)) as pool:
        for number, seconds, error in tqdm(pool.imap_unordered(_make_piece, jobs), total=len(jobs), unit="piece"):
            rendered += seconds
            if error:
                failures.append(f"piece {number}: {error}")
    elapsed = time.monotonic() - start
    print(f"{len(jobs) - len(failures)} pieces, {rendered:.0f} s of audio in {elapsed:.0f} s "
          f"({rendered / max(elapsed, 1e-9):.1f}x real time, {workers} workers); {already} already there")
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if failures else 0


def get_parser():
    parser = argparse.ArgumentParser(prog="python -m data.synth", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output folder (URMP layout)")
    parser.add_argument("--pieces", type=int, default=10, help="number of pieces")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first", type=int, default=1, help="number of the first piece")
    parser.add_argument("--soundfont", action="append", type=Path,
                        help="a .sf2/.sf3 file (repeatable); default without --samples: all installed ones")
    parser.add_argument("--samples", action="append", type=Path,
                        help="a folder of recorded notes, <instrument>_<pitch>_<duration>_<dynamic>_<articulation>.mp3 "
                             "(repeatable; e.g. the Philharmonia library)")
    parser.add_argument("--sample-share", type=float, default=0.5,
                        help="with both --samples and --soundfont: the share of parts rendered from samples")
    parser.add_argument("--wind-ensembles", type=float, default=0.0,
                        help="share of ensembles of woodwinds and brass only (0 to 0.7; strings only: 0.3)")
    parser.add_argument("--scores", type=Path, help="folder of MIDI/MusicXML scores instead of music21's corpus")
    parser.add_argument("--split", choices=("train", "test", "all"), default="train",
                        help="which scores to draw from (test: a held-out ~10%%)")
    parser.add_argument("--sample-rate", type=int, default=22050)
    parser.add_argument("--seconds", type=float, default=30.0, help="excerpt length")
    parser.add_argument("--no-reverb", action="store_true")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--force", action="store_true", help="redo pieces that already exist")
    return add_debug_flag(parser)


def timbre_pool(soundfont_args, sample_args):
    """``(soundfonts, libraries)`` from the command line; one-line errors for unusable ones.

    Without ``--samples`` and ``--soundfont``, the installed SoundFonts. Without a SoundFont, sample
    folders together must hold every instrument of the vocabulary; with one, it plays the rest.
    """
    libraries = [SampleLibrary(folder) for folder in sample_args or ()]
    soundfonts = [str(p) for p in (soundfont_args or (() if libraries else find_soundfonts()))]
    for soundfont in soundfonts:
        if not Path(soundfont).is_file():
            raise AvsepError(f"no such soundfont: {soundfont}")
    if not soundfonts and not libraries:
        raise AvsepError("no soundfont found; run: sudo apt-get install timgm6mb-soundfont, or pass --soundfont")
    if libraries and not soundfonts:
        check_coverage(libraries)
    return soundfonts, libraries


def _run(args):
    if not 0 <= args.sample_share <= 1:
        raise AvsepError(f"--sample-share must be in [0, 1], got {args.sample_share}")
    if not 0 <= args.wind_ensembles <= 0.7:
        raise AvsepError(f"--wind-ensembles must be in [0, 0.7], got {args.wind_ensembles}")
    soundfonts, libraries = timbre_pool(args.soundfont, args.samples)
    score_ids = [s for s in list_scores(args.scores) if args.split == "all" or split_of(s) == args.split]
    args.out.mkdir(parents=True, exist_ok=True)
    numbers = [n for n in range(args.first, args.first + args.pieces)
               if args.force or existing_piece(args.out, n) is None]
    settings = {"score_ids": score_ids, "soundfonts": soundfonts, "libraries": libraries,
                "sample_share": args.sample_share, "seed": args.seed, "sample_rate": args.sample_rate,
                "seconds": args.seconds, "reverb": not args.no_reverb, "wind_ensembles": args.wind_ensembles}
    return render_pieces(args.out, numbers, synthesize_piece, settings, args.workers, args.pieces - len(numbers))


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
