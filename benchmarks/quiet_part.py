"""How separators treat a quiet part: one instrument's SDR when it plays some dB under another.

    python benchmarks/quiet_part.py --data DIR [DIR ...] [--quiet vn] [--loud tpt] [--levels 0 -9]
        [--model M ...] [--validation-fraction 0.05]

Takes the stems of the pieces that training's hash split keeps for validation (``data.tracks``;
``--validation-fraction`` as in the training config), so no model trained on these folders heard
them. Each ``--quiet`` stem is paired with a ``--loud`` stem of another piece, both cut to the
shorter length, scaled so the quiet one's RMS sits ``level`` dB from the loud one's, summed and
peak-normalised; each model separates the mix told that both play (22.05 kHz mono, no Wiener
filter). Prints the median SDR of the quiet part's estimate over the pairs: a silent estimate
scores 0 dB, so a negative median means the model's stem holds more of the loud part than of the
quiet one. Without ``--model``: the shipped model and its unconditioned twin.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

from audio.architectures import load_separator
from audio.separator import DEFAULT_MODEL, MODELS_DIR
from audio.train import separate
from common.cli import add_debug_flag, run_cli
from common.errors import AvsepError
from data.readers import read_dataset
from data.tracks import validation_split
from fusion.instruments import NB_INSTRUMENTS, index_of

SILENT_RMS = 1e-3


def validation_stems(folders, codes, fraction):
    """``{code: [(T,) mono stems]}`` of ``codes`` in the validation pieces of ``folders`` (silent ones left out)."""
    tracks = [track for folder in folders for track in read_dataset(folder)]
    _, validation = validation_split(tracks, fraction)
    stems = {code: [] for code in codes}
    for track in validation:
        wanted = [code for code in codes if track.presence[index_of(code)]]
        if not wanted:
            continue
        targets = track.mixture_and_targets()[1].mean(axis=1)
        for code in wanted:
            stem = targets[index_of(code)]
            if np.sqrt(np.mean(stem ** 2)) > SILENT_RMS:
                stems[code].append(stem.astype(np.float32))
    return stems


def mixed_pair(quiet, loud, level_db):
    """``(mix, quiet part)``, ``(T,)`` each: ``quiet`` at ``level_db`` from ``loud`` by RMS, peak 0.9."""
    length = min(len(quiet), len(loud))
    quiet, loud = quiet[:length], loud[:length]
    quiet = quiet * np.sqrt(np.mean(loud ** 2) / np.mean(quiet ** 2)) * 10 ** (level_db / 20)
    mix = quiet + loud
    scale = 0.9 / np.abs(mix).max()
    return (mix * scale).astype(np.float32), (quiet * scale).astype(np.float32)


def quiet_part_sdr(model, pairs, quiet_index, loud_index):
    """Median SDR (dB) of the quiet part's estimate over ``pairs`` of ``(mix, quiet part)``."""
    presence = np.zeros(NB_INSTRUMENTS, np.float32)
    presence[[quiet_index, loud_index]] = 1.0
    scores = []
    for mix, quiet in pairs:
        estimate = separate(model, mix[None], presence, batch_size=8)[quiet_index, 0]
        scores.append(10 * np.log10(np.sum(quiet ** 2) / (np.sum((quiet - estimate) ** 2) + 1e-12)))
    return float(np.median(scores))


def get_parser():
    parser = argparse.ArgumentParser(prog="benchmarks/quiet_part.py", description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", required=True, type=Path, help="training folders (URMP layout)")
    parser.add_argument("--quiet", default="vn", help="the quiet instrument's code")
    parser.add_argument("--loud", default="tpt", help="the loud instrument's code")
    parser.add_argument("--levels", nargs="+", type=float, default=[0.0, -9.0], help="quiet minus loud RMS, dB")
    parser.add_argument("--model", nargs="+", type=Path,
                        default=[DEFAULT_MODEL, MODELS_DIR / "waveunet_unconditioned.keras"])
    parser.add_argument("--validation-fraction", type=float, default=0.05)
    return add_debug_flag(parser)


def run(args):
    quiet_index, loud_index = index_of(args.quiet), index_of(args.loud)
    stems = validation_stems(args.data, (args.quiet, args.loud), args.validation_fraction)
    quiet_stems, loud_stems = stems[args.quiet], stems[args.loud]
    if not quiet_stems or not loud_stems:
        raise AvsepError(f"the validation pieces of {', '.join(map(str, args.data))} hold {len(quiet_stems)} "
                         f"{args.quiet} and {len(loud_stems)} {args.loud} stems; both are needed")
    models = {path: load_separator(path) for path in args.model}
    print(f"{len(quiet_stems)} {args.quiet} stems, each under one of {len(loud_stems)} {args.loud} stems")
    for level_db in args.levels:
        pairs = [mixed_pair(quiet, loud_stems[i % len(loud_stems)], level_db) for i, quiet in enumerate(quiet_stems)]
        for path, model in models.items():
            sdr = quiet_part_sdr(model, pairs, quiet_index, loud_index)
            print(f"{args.quiet} {level_db:+.0f} dB from {args.loud}: median SDR {sdr:6.2f} dB  ({path})", flush=True)


def main(argv=None):
    return run_cli(run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
