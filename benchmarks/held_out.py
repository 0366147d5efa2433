"""Scores of separator models on every held-out set the shipping rules of TRAINING.md read.

    python benchmarks/held_out.py --model models/waveunet_film.keras --model runs/R/model.keras \
        [--nmf-blend 0.25] [--no-wiener] [--heard [--tagger T]] \
        [--sets real synthetic csound second-library synthetic-dry synthetic-known-timbres]

Each model separates each set with true labels as the job runs by default (level matching, the
Wiener post-filter; ``--nmf-blend`` mixes NMF into it), and ``pipelines.evaluate`` scores the
stems (museval, 1 s windows; mean over stems of per-stem median SDR). With ``--heard`` the
presence is the shipped tagger's (or ``--tagger``'s, with the unsure ratio of its card), from each
mixture's sound, as ``separate_audio`` finds it without ``--instruments`` (what a user without
labels gets). The sets:

- real: the URMP excerpts of ``../shared/data/urmp_excerpts/reference`` (with their per-piece scores);
- synthetic: ``.cache/datasets/synth_test`` (test-split scores, TimGM6mb; README "Benchmarks");
- csound: ``.cache/datasets/validation_gmbank`` (Csound's General MIDI bank; configs/masknet-repitch.yaml);
- second-library: ``.cache/datasets/vsco_test``'s pieces of more than one instrument (README "Known limits").

Two more sets, scored only when ``--sets`` names them, take the synthetic set apart: the same
24 pieces (same scores, players and seed) rendered once without rooms and once with the training
data's own timbres, so that a model's gap to 6 dB splits into what the rooms, the unheard
timbres and the music itself cost:

- synthetic-dry: ``.cache/datasets/synth_test_dry`` (the synthetic set's command with ``--no-reverb``);
- synthetic-known-timbres: ``.cache/datasets/synth_test_known_timbres`` (its command with ``--samples
  ../shared/data/samples/philharmonia`` for ``--soundfont``: every part played by the training
  library's own recorded notes, in test-split scores).

A set whose folder is absent is left out with a note. Estimates and scores go under
``.cache/bench/held-out/<model>/``; prints one Markdown row per model.
"""
import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import SYNTH_TEST, URMP_EXCERPTS, WORK, separable_pieces  # noqa: E402
from benchmarks.presence_quality import SECOND_LIBRARY_TEST  # noqa: E402
from common.errors import AvsepError  # noqa: E402
from pipelines.separate import postfilter_blend  # noqa: E402

CSOUND_RENDERS = ROOT / ".cache" / "datasets" / "validation_gmbank"
SETS = {"real": URMP_EXCERPTS / "reference", "synthetic": SYNTH_TEST, "csound": CSOUND_RENDERS,
        "second-library": SECOND_LIBRARY_TEST}
DIAGNOSTIC_SETS = {"synthetic-dry": SYNTH_TEST.with_name("synth_test_dry"),
                   "synthetic-known-timbres": SYNTH_TEST.with_name("synth_test_known_timbres")}


def set_folder(name):
    """Where set ``name`` (one of :data:`SETS` or :data:`DIAGNOSTIC_SETS`) is rendered."""
    return {**SETS, **DIAGNOSTIC_SETS}[name]


def references_for(name):
    """The references folder of set ``name``, or None where it is absent."""
    root = set_folder(name)
    if not root.exists():
        return None
    if name == "second-library":  # in a piece of one instrument the summed reference is the mixture
        return separable_pieces(root, WORK / "second-library-references")
    return root


def model_tag(model_path, wiener, nmf_blend, heard=False):
    """A folder name for one model, post-filter and presence: ``<parent>-<stem>[-raw|-blend0.25][-heard]``."""
    path = Path(model_path)
    suffix = "" if wiener and not nmf_blend else "-raw" if not wiener else f"-blend{nmf_blend:g}"
    return f"{path.parent.name}-{path.stem}{suffix}" + ("-heard" if heard else "")


def score_set(model_path, name, references, out, wiener, nmf_blend, tagger=None):
    """``(mean SDR, {piece: mean SDR})`` of one model on one set; with a ``tagger``
    (:class:`audio.tagger.InstrumentTagger`), presence from the sound instead of true labels."""
    from pipelines.baselines import estimate
    from pipelines.evaluate import evaluate, piece_sdr

    if tagger is None:
        estimate("waveunet", references, out / name, model=model_path, wiener=wiener, nmf_blend=nmf_blend)
    else:
        from audio.separator import Separator
        from benchmarks.report import heard_presence_estimates

        heard_presence_estimates(references, out / name, Separator(model_path), tagger, wiener,
                                 postfilter_blend(nmf_blend, wiener))
    result = evaluate(references, [(name, out / name)], out / f"scores-{name}", workers=2)["systems"][name]
    return result["mean"]["SDR"], piece_sdr(result)


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, type=Path, help="a .keras model (repeatable)")
    parser.add_argument("--sets", nargs="+", choices=list(SETS) + list(DIAGNOSTIC_SETS), default=list(SETS),
                        help="default: the four the shipping rules read")
    parser.add_argument("--no-wiener", dest="wiener", action="store_false", help="score the network's raw stems")
    parser.add_argument("--nmf-blend", type=float, default=0.0, metavar="WEIGHT", help="NMF's share in the filter")
    parser.add_argument("--heard", action="store_true",
                        help="presence from the sound (the shipped tagger) instead of true labels")
    parser.add_argument("--tagger", type=Path, help="with --heard: this .keras tagger instead of the shipped one")
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    if args.tagger and not args.heard:
        parser.error("--tagger goes with --heard")
    missing = [str(path) for path in args.model + ([args.tagger] if args.tagger else []) if not path.is_file()]
    if missing:
        parser.error(f"no model at {', '.join(missing)}")
    try:
        postfilter_blend(args.nmf_blend, args.wiener)  # a bad weight fails here, before any model loads
    except AvsepError as error:
        parser.error(str(error))
    references = {name: references_for(name) for name in args.sets}
    for name, root in references.items():
        if root is None:
            print(f"note: {set_folder(name)} is absent: set {name} left out (its command: this file's docstring)")
    present = [name for name, root in references.items() if root is not None]
    header = "| model | " + " | ".join(present) + (" | real pieces |" if "real" in present else " |")
    lines = [header, "|---" * (len(present) + 1 + ("real" in present)) + "|"]
    tagger = None
    if args.heard:
        from audio.tagger import InstrumentTagger

        tagger = InstrumentTagger(args.tagger)
    for model_path in args.model:
        tag = model_tag(model_path, args.wiener, args.nmf_blend, args.heard)
        out = WORK / "held-out" / (f"{tag}-{args.tagger.parent.name}-{args.tagger.stem}" if args.tagger else tag)
        scores = {name: score_set(model_path, name, references[name], out, args.wiener, args.nmf_blend, tagger)
                  for name in present}
        cells = [f"{scores[name][0]:.2f}" for name in present]
        if "real" in present:
            cells.append(" / ".join(f"{value:.2f}" for value in scores["real"][1].values()))
        lines.append(f"| {model_path} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
