"""What a player outside the vocabulary costs: our stems' SDR when a piano, an organ, a voice... plays too.

    python benchmarks/accompaniment.py --references DIR --accompaniment DIR [--level-db -6] [--model M]
        [--residual] [--out DIR]

Each reference piece gets one clip of ``python -m data.accompaniment`` (clip i for piece i,
cycled), cut or padded to the piece, scaled so its RMS sits ``--level-db`` under the mixture's, and
added to the mixture. The references stay the true stems of our instruments. The separator is told
who of ours plays and separates the clean and the accompanied mixture, without and with the Wiener
filter; ``--residual`` adds the filter with one more source model, the mixture minus the network's
stems, which takes what the network left out. Estimates go to ``--out/<condition>-<system>/``, and
the table is ``python -m pipelines.evaluate``'s (mean over stems of the median SDR per 1 s window).
"""
import argparse
import sys
from pathlib import Path

import numpy as np

from audio.io import read_audio, write_audio
from audio.postfilter import wiener_postfilter
from common.cli import add_debug_flag, run_cli
from common.errors import AvsepError
from pipelines.baselines import collect_mixes, collect_stems, load_piece
from pipelines.evaluate import main as evaluate_main

RESIDUAL = "residual"  # the extra source model's key: never one of our codes


def accompanied(mixture, clip, level_db):
    """``mixture + clip``: the clip ``(n,)`` cut or zero-padded to the mixture ``(T,)``, its RMS put ``level_db``
    from the mixture's."""
    clip = np.pad(clip, (0, max(0, len(mixture) - len(clip))))[:len(mixture)]
    gain = np.sqrt(np.mean(mixture ** 2) / (np.mean(clip ** 2) + 1e-12)) * 10 ** (level_db / 20)
    return (mixture + gain * clip).astype(np.float32)


def post_filtered(mixture, found, sample_rate, residual):
    """``{system: {code: (1, T)}}``: the network's stems, the Wiener filter's, and with ``residual`` the filter's
    with the mixture minus the stems as one more source."""
    systems = {"plain": found, "wiener": wiener_postfilter(mixture[None], found, sample_rate)}
    if residual:
        rest = mixture[None] - sum(found.values())
        systems["wiener-residual"] = wiener_postfilter(mixture[None], {**found, RESIDUAL: rest}, sample_rate)
    return systems


def write_estimates(references_root, clips, out, model, level_db, residual):
    """Separate each piece clean and accompanied; write every system's stems; return the estimate folders."""
    from audio.separator import Separator
    from fusion.instruments import presence_vector

    separator = Separator(model)
    references, mixes = collect_stems(references_root), collect_mixes(references_root)
    folders = set()
    for index, piece in enumerate(sorted(references)):
        mixture, rate, stems = load_piece(references, mixes, piece)
        clip = read_audio(clips[index % len(clips)], rate, nb_channels=1)[0][0]
        for condition, mix in (("clean", mixture), ("accompanied", accompanied(mixture, clip, level_db))):
            found = separator.separate(mix[None], rate, presence_vector(tuple(stems)))
            for system, estimates in post_filtered(mix, found, rate, residual).items():
                folder = out / f"{condition}-{system}"
                for code in stems:
                    write_audio(folder / piece / f"{code}.wav", estimates[code][0], rate)
                folders.add(folder)
        print(f"{piece}: separated", flush=True)
    return sorted(folders)


def get_parser():
    parser = argparse.ArgumentParser(prog="python benchmarks/accompaniment.py", description=__doc__.splitlines()[0])
    parser.add_argument("--references", required=True, type=Path, help="folder of true stems and mixtures")
    parser.add_argument("--accompaniment", required=True, type=Path, help="clips of python -m data.accompaniment")
    parser.add_argument("--level-db", type=float, default=-6.0, help="the clip's RMS relative to the mixture's")
    parser.add_argument("--model", type=Path, help="a .keras separation model (default: the shipped one)")
    parser.add_argument("--residual", action="store_true", help="also the Wiener filter with a residual source")
    parser.add_argument("--out", type=Path, default=Path("evaluation/accompaniment"))
    add_debug_flag(parser)
    return parser


def _run(args):
    clips = sorted(args.accompaniment.glob("*.wav"))
    if not clips:
        raise AvsepError(f"no .wav clips in {args.accompaniment}; make some with python -m data.accompaniment")
    folders = write_estimates(args.references, clips, args.out, args.model, args.level_db, args.residual)
    return evaluate_main(["--references", str(args.references), "--out", str(args.out / "scores"),
                          "--estimates", *(f"{folder.name}={folder}" for folder in folders)])


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
