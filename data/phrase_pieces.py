"""``python -m data.phrase_pieces --samples DIR --out DIR --pieces N``: ensembles of real recorded phrases.

Rendered notes never hold what real playing does between and within notes (legato joins,
vibrato, bow changes, breath). A sample library's recorded phrases do
(``data.samples.recorded_phrases``: the Philharmonia library has 664). Each piece here gives
2 to 4 players distinct instruments; a player's stem is a run of its instrument's phrases in a
random order, with rests of 0-1.5 s between them and a level per phrase, up to ``--seconds``; the
players then share one hall, microphone and noise floor as in ``data.synth``
(:func:`data.synth.place_in_room`). The phrases are unrelated in key and time: a texture, not
music, like the training remixes of two pieces.

No phrase is heard on both sides of a training split: the phrases fall into ``POOLS`` pools by a
hash of their file name, a piece draws from one pool, and its ``meta.json`` names the pool as its
score (``phrases/pool07``), which is what :func:`data.tracks.validation_split` keeps together.
Pieces are written in URMP layout (``data.synth.write_piece``); same seed, same audio.
"""
import argparse
import os
import sys
from pathlib import Path

import numpy as np

from common.cli import add_debug_flag, run_cli
from common.errors import AvsepError
from data.samples import decoded, recorded_phrases
from data.synth import existing_piece, place_in_room, render_pieces
from data.tracks import held_out_fraction
from fusion.instruments import CODES

POOLS = 20  # at most; a small library gets one pool per 20 phrases
MAX_REST_S = 1.5


def phrase_pools(phrases):
    """``[{code: [path, ...]}]``: each phrase in pool ``int(hash(file name) * nb_pools)``, in the given order."""
    nb_pools = max(1, min(POOLS, len(phrases) // 20))
    pools = [{} for _ in range(nb_pools)]
    for code, path in phrases:
        pools[int(held_out_fraction(Path(path).name) * nb_pools)].setdefault(code, []).append(path)
    return pools


def player_stem(paths, nb_samples, sample_rate, rng):
    """``(nb_samples,)``: phrases from ``paths`` one after another, rests between, a level for each."""
    stem = np.zeros(nb_samples, np.float32)
    position = int(rng.uniform(0, MAX_REST_S) * sample_rate)
    while position < nb_samples:
        recording = decoded(paths[rng.integers(len(paths))], sample_rate)  # decoded once per worker
        if recording is None:  # an undecodable file (warned once): a rest instead
            position += int(MAX_REST_S * sample_rate)
            continue
        audio = recording[0]
        rms = np.sqrt(np.mean(audio ** 2)) + 1e-8
        audio = (audio / rms * 10 ** (rng.uniform(-6, 0) / 20))[: nb_samples - position]
        stem[position:position + len(audio)] = audio
        position += len(audio) + int(rng.uniform(0, MAX_REST_S) * sample_rate)
    return stem


def phrase_piece(number, pools, seed, sample_rate, seconds, reverb=True):
    """``(title, codes, stems (nb_players, nb_samples), meta)`` of piece ``number``."""
    rng = np.random.default_rng([seed, number])
    usable = [index for index, pool in enumerate(pools) if len(pool) >= 2]
    if not usable:
        raise AvsepError("the recorded phrases are all of one instrument: a piece needs two")
    pool_index = usable[rng.integers(len(usable))]
    pool = pools[pool_index]
    available = [code for code in CODES if code in pool]
    codes = [available[i] for i in sorted(rng.choice(len(available), size=min(len(available), rng.integers(2, 5)),
                                                     replace=False))]
    nb_samples = int(seconds * sample_rate)
    stems = []
    for code in codes:
        stem = player_stem(pool[code], nb_samples, sample_rate, rng)
        stems.append(stem / (np.sqrt(np.mean(stem ** 2)) + 1e-8) * 0.1 * 10 ** (rng.uniform(-6, 0) / 20))
    stems, drawn = place_in_room(np.stack(stems), sample_rate, rng, reverb)
    stems = (stems * rng.uniform(0.3, 0.9) / (np.abs(stems.sum(axis=0)).max() + 1e-8)).astype(np.float32)
    meta = {"score": f"phrases/pool{pool_index:02d}", "players": [{"code": code, "source": "recorded phrases"}
                                                                  for code in codes],
            **drawn, "seed": seed, "piece": number, "sample_rate": sample_rate}
    return "Phrases", tuple(codes), stems, meta


def get_parser():
    parser = argparse.ArgumentParser(prog="python -m data.phrase_pieces", description=__doc__.splitlines()[0])
    parser.add_argument("--samples", required=True, action="append", type=Path,
                        help="a sample library with <instrument>_<pitch>_phrase_... files (repeatable)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (URMP layout)")
    parser.add_argument("--pieces", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first", type=int, default=1, help="number of the first piece")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--sample-rate", type=int, default=22050)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    return add_debug_flag(parser)


def _run(args):
    phrases = [phrase for folder in args.samples for phrase in recorded_phrases(folder)]
    if not phrases:
        raise AvsepError(f"no recorded phrases (<instrument>_<pitch>_phrase_...) under {', '.join(map(str, args.samples))}")
    settings = {"pools": phrase_pools(phrases), "seed": args.seed, "sample_rate": args.sample_rate,
                "seconds": args.seconds}
    numbers = [n for n in range(args.first, args.first + args.pieces) if existing_piece(args.out, n) is None]
    return render_pieces(args.out, numbers, phrase_piece, settings, args.workers, args.pieces - len(numbers))


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
