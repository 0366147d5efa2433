"""``python -m pipelines.baselines``: estimates of the reference systems, to score beside ours.

    python -m pipelines.baselines learn-nmf --train DIR [--out models/nmf_dictionaries.npz]
    python -m pipelines.baselines estimate SYSTEM --references DIR --out DIR [--model M] [--wiener [--nmf-blend W]]

SYSTEM is ``mixture`` (the mix as every stem's estimate), ``irm`` (ideal ratio mask: an oracle
that reads the true stems), ``nmf-oracle`` (supervised NMF with dictionaries learned from each
piece's own true stems: an oracle of the players' timbres, not of their notes), ``nmf``
(supervised NMF with the present instruments' dictionaries), or ``waveunet`` (a Wave-U-Net given
the true instrument labels; with an unconditioned model that is the unconditioned baseline).
Estimates are written as ``OUT/<piece>/<code>.wav`` at the reference rate, for
``python -m pipelines.evaluate``.
"""
import argparse
import re
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from audio.io import read_audio, write_audio
from audio.nmf import DEFAULT_DICTIONARIES
from common.cli import add_debug_flag, run_cli
from common.errors import AvsepError
from fusion.instruments import CODES
from pipelines.evaluate import collect_stems, piece_key, read_summed

ORACLE_NMF_RATE = 22050  # the shipped dictionaries' rate: the oracle's NMF runs where the baseline's does
SYSTEMS = ("mixture", "irm", "nmf-oracle", "nmf", "waveunet")


def collect_mixes(root):
    """``{piece: mix path}``: ``AuMix_*`` files (URMP layout) or flat ``<piece>_mix.wav``."""
    mixes = {}
    for path in sorted(Path(root).rglob("*.wav")):
        if path.name.startswith("AuMix_") or re.match(r"\d+_mix\.wav$", path.name):
            mixes[piece_key(path.stem)] = path
    return mixes


def load_piece(references, mixes, piece):
    """``(mixture (nb_samples,), sample_rate, {code: reference (nb_samples,)})`` for one piece."""
    stems, rate = {}, None
    for code, paths in references[piece].items():
        stems[code], rate = read_summed(paths, rate)
    length = min(len(a) for a in stems.values())
    stems = {code: audio[:length] for code, audio in stems.items()}
    if piece in mixes:
        mixture = read_audio(mixes[piece], rate, nb_channels=1)[0][0]
        mixture = np.pad(mixture, (0, max(0, length - len(mixture))))[:length]
    else:
        mixture = sum(stems.values())
    return mixture, rate, stems


def estimate(system, references_root, out_dir, model=None, dictionaries=None, wiener=False, nmf_blend=0.0,
             level_match=True):
    """Write ``out_dir/<piece>/<code>.wav`` for every reference piece.

    ``wiener`` and ``nmf_blend`` (NMF's share of the filter's source models, 0 for none) post-filter
    the waveunet system's stems (:mod:`audio.postfilter`); ``level_match`` scales each mixture to
    the network's training level first (:class:`audio.separator.Separator`).
    """
    references, mixes = collect_stems(references_root), collect_mixes(references_root)
    separator = None
    if system == "waveunet":
        from audio.separator import Separator
        from pipelines.separate import postfilter_blend

        blend = postfilter_blend(nmf_blend, wiener, dictionaries or DEFAULT_DICTIONARIES)  # before the model loads
        separator = Separator(model, level_match=level_match)
    if system == "nmf":
        from audio.nmf import load_dictionaries

        path = Path(dictionaries or DEFAULT_DICTIONARIES)
        if not path.exists():
            raise AvsepError(f"no NMF dictionaries at {path}; run: python -m pipelines.baselines learn-nmf --train DIR")
        dictionaries, nmf_rate = load_dictionaries(path)
    for piece in tqdm(sorted(references), desc=system, unit="piece"):
        mixture, rate, stems = load_piece(references, mixes, piece)
        if system == "mixture":
            estimates = {code: mixture for code in stems}
        elif system == "irm":
            from audio.nmf import ideal_ratio_mask

            estimates = ideal_ratio_mask(mixture, rate, stems)
        elif system == "nmf-oracle":
            from audio.io import resample
            from audio.nmf import piece_dictionary_nmf

            low = {code: resample(audio[None], rate, ORACLE_NMF_RATE)[0] for code, audio in stems.items()}
            found = piece_dictionary_nmf(resample(mixture[None], rate, ORACLE_NMF_RATE)[0], ORACLE_NMF_RATE, low)
            estimates = {code: resample(audio[None], ORACLE_NMF_RATE, rate)[0] for code, audio in found.items()}
        elif system == "nmf":
            from audio.io import resample
            from audio.nmf import nmf_separate

            low = resample(mixture[None], rate, nmf_rate)[0]
            estimates = {code: resample(audio[None], nmf_rate, rate)[0]
                         for code, audio in nmf_separate(low, nmf_rate, dictionaries, list(stems)).items()}
        else:
            from fusion.instruments import presence_vector

            found = separator.separate(mixture[None], rate, presence_vector(tuple(stems)))
            if wiener:
                from audio.postfilter import wiener_postfilter

                found = wiener_postfilter(mixture[None], found, rate, blend=blend)
            estimates = {code: audio[0] for code, audio in found.items()}
        for code, audio in estimates.items():
            write_audio(Path(out_dir) / piece / f"{code}.wav", audio, rate)


def learn_nmf(train_roots, out, sample_rate=22050, seconds_per_instrument=120, seed=0):
    """Learn one dictionary per instrument from URMP-layout training folders; save them."""
    from audio.nmf import learn_dictionaries, save_dictionaries
    from data.readers import read_urmp

    rng = np.random.default_rng(seed)
    chunks = {}
    tracks = [t for root in train_roots for t in read_urmp(root, sample_rate)]
    for index in tqdm(rng.permutation(len(tracks)), desc="reading stems", unit="track"):
        for code, audio in tracks[index].stems():
            have = sum(len(c) for c in chunks.get(code, []))
            if have < seconds_per_instrument * sample_rate:
                start = int(rng.integers(0, max(1, audio.shape[1] - 10 * sample_rate)))
                chunks.setdefault(code, []).append(audio[0, start:start + 10 * sample_rate])
    dictionaries = learn_dictionaries(chunks, sample_rate)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    save_dictionaries(out, dictionaries, sample_rate)
    missing = [c for c in CODES if c not in dictionaries]
    return dictionaries, missing


def get_parser():
    parser = argparse.ArgumentParser(prog="python -m pipelines.baselines", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    learn = commands.add_parser("learn-nmf", help="learn NMF dictionaries from training stems")
    learn.add_argument("--train", nargs="+", type=Path, required=True, help="URMP-layout training folders")
    learn.add_argument("--out", type=Path, default=DEFAULT_DICTIONARIES)
    make = commands.add_parser("estimate", help="write a baseline's estimates for reference pieces")
    make.add_argument("system", choices=SYSTEMS)
    make.add_argument("--references", type=Path, required=True)
    make.add_argument("--out", type=Path, required=True)
    make.add_argument("--model", type=Path, help="Wave-U-Net for the waveunet system (default: shipped)")
    make.add_argument("--dictionaries", type=Path, help=f"NMF dictionaries (default: {DEFAULT_DICTIONARIES.name})")
    make.add_argument("--wiener", action="store_true", help="waveunet: Wiener post-filter (norbert) on its stems")
    make.add_argument("--nmf-blend", type=float, default=0.0,
                      help="waveunet with --wiener: NMF's share of the filter's source models (--dictionaries')")
    make.add_argument("--level-match", action=argparse.BooleanOptionalAction, default=True,
                      help="waveunet: scale each mixture to the network's training level first (on by default)")
    add_debug_flag(learn)
    add_debug_flag(make)
    return parser


def _run(args):
    if args.command == "learn-nmf":
        dictionaries, missing = learn_nmf(args.train, args.out)
        print(f"{args.out}: dictionaries for {', '.join(dictionaries)}"
              + (f"; no training stems for {', '.join(missing)}" if missing else ""))
    else:
        if args.nmf_blend and args.system != "waveunet":
            raise AvsepError("--nmf-blend post-filters the waveunet system's stems: it needs --wiener")
        estimate(args.system, args.references, args.out, args.model, args.dictionaries, args.wiener, args.nmf_blend,
                 args.level_match)
        print(f"{args.system} estimates written to {args.out}")


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
