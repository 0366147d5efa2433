"""``python -m data.accompaniment --out DIR --clips N``: instruments outside the vocabulary, for negatives.

Real performances come with a piano, a guitar, an organ or singers beside our instruments (and
sometimes nothing of ours at all). A model that must say *which of our 13 instruments play*
(``audio.tagger``) has to hear those and answer "none of ours"; a separator has to leave them
out of our stems (``data.accompaniment`` in its config: :class:`data.sampler.StemSampler`). Each
clip takes an excerpt of a score from the same corpus as ``data.synth``, performs all its parts
(humanised the same way) on one General MIDI program outside the vocabulary, through a
SoundFont, and places it in a room. Writes::

    DIR/NNNN_<program>.wav   mono float32 at --sample-rate, peak 0.5
    DIR/meta.json            one entry per clip: score, program, SoundFont, room

Clip ``i`` depends only on ``(seed, i)``; clips already written are kept unless ``--force``.
"""
import argparse
import json
import multiprocessing
import os
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from audio.io import write_audio
from common.cli import add_debug_flag, run_cli
from common.errors import AvsepError
from common.files import write_json
from data.render import find_soundfonts, render_notes
from data.room import apply_room, draw_room
from data.scores import draw_score_id, list_scores, load_score, split_of
from data.synth import excerpt, perform, tempo_map

# General MIDI programs (0-based) of instruments that accompany chamber music but are not ours.
OTHER_PROGRAMS = {
    0: "piano", 1: "bright-piano", 4: "electric-piano", 6: "harpsichord", 12: "marimba", 16: "organ",
    19: "church-organ", 21: "accordion", 24: "nylon-guitar", 25: "steel-guitar", 32: "acoustic-bass",
    46: "harp", 52: "choir", 53: "voice", 48: "string-ensemble",
}


def render_clip(number, score_ids, soundfonts, seed, sample_rate, seconds):
    """Clip ``number``: ``(audio (nb_samples,) float32, meta dict)``; one program plays every part."""
    rng = np.random.default_rng([seed, number, 7])
    program = int(rng.choice(sorted(OTHER_PROGRAMS)))
    soundfont = soundfonts[rng.integers(len(soundfonts))]
    for _ in range(20):
        score_id = draw_score_id(score_ids, rng)
        try:
            score = load_score(score_id)
        except Exception:  # noqa: BLE001  (a corpus file music21 cannot read: draw another)
            continue
        qpm = (score.tempo_qpm or rng.uniform(60, 110)) * rng.uniform(0.9, 1.2)
        parts, _, length_q = excerpt(score, seconds, qpm, rng)
        if sum(len(p) for p in parts) >= 8:
            break
    else:
        raise AvsepError(f"clip {number}: no score with notes found in 20 draws")
    boundaries = tempo_map(int(np.ceil(length_q)) + 8, qpm, rng)
    events = np.concatenate([perform(part, 0, boundaries, rng) for part in parts if len(part)])
    audio = render_notes(events[:, :4], program, soundfont, sample_rate)
    room = draw_room(rng, 1) if rng.random() < 0.8 else None
    if room is not None:
        audio = apply_room(audio[None], room, sample_rate)[0]
    audio = (audio * 0.5 / (np.abs(audio).max() + 1e-8)).astype(np.float32)
    meta = {"clip": number, "score": score.score_id, "program": program, "instrument": OTHER_PROGRAMS[program],
            "soundfont": Path(soundfont).name, "room": room, "seed": seed}
    return audio, meta


def clip_path(out, number, program):
    return Path(out) / f"{number:04d}_{OTHER_PROGRAMS[program]}.wav"


def _make_clip(job):
    out, number, settings = job
    try:
        audio, meta = render_clip(number, **settings)
        write_audio(clip_path(out, number, meta["program"]), audio, settings["sample_rate"])
        return meta, None
    except Exception as error:  # noqa: BLE001  (one bad clip must not end a long run: it is reported)
        return {"clip": number}, str(error) if isinstance(error, AvsepError) else f"{type(error).__name__}: {error}"


def get_parser():
    parser = argparse.ArgumentParser(prog="python -m data.accompaniment", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--soundfont", action="append", type=Path, help="a .sf2/.sf3 file (repeatable); "
                        "default: all installed ones")
    parser.add_argument("--split", choices=("train", "test", "all"), default="train")
    parser.add_argument("--sample-rate", type=int, default=22050)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--force", action="store_true", help="redo clips that already exist")
    return add_debug_flag(parser)


def _run(args):
    soundfonts = [str(p) for p in (args.soundfont or find_soundfonts())]
    if not soundfonts or not all(Path(p).is_file() for p in soundfonts):
        raise AvsepError(f"no usable soundfont among {soundfonts or 'the installed ones'}")
    score_ids = [s for s in list_scores() if args.split == "all" or split_of(s) == args.split]
    args.out.mkdir(parents=True, exist_ok=True)
    meta_path = args.out / "meta.json"

    catalogue = {entry["clip"]: entry for entry in json.loads(meta_path.read_text())} if meta_path.exists() else {}
    numbers = [n for n in range(1, args.clips + 1) if args.force or n not in catalogue]
    settings = {"score_ids": score_ids, "soundfonts": soundfonts, "seed": args.seed,
                "sample_rate": args.sample_rate, "seconds": args.seconds}
    failures = []
    with multiprocessing.get_context("spawn").Pool(max(1, args.workers)) as pool:
        jobs = [(args.out, n, settings) for n in numbers]
        for meta, error in tqdm(pool.imap_unordered(_make_clip, jobs), total=len(jobs), unit="clip"):
            if error:
                failures.append(f"clip {meta['clip']}: {error}")
            else:
                catalogue[meta["clip"]] = meta
    write_json(meta_path, [catalogue[n] for n in sorted(catalogue)])
    print(f"{len(numbers) - len(failures)} clips written to {args.out}; {args.clips - len(numbers)} already there")
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if failures else 0


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
