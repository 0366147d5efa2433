"""``python -m pipelines.calibrate_tagger --tagger T --data DIR [--write]``: choose a tagger's unsure ratio.

A tagger hears timbres it never trained on faintly: no instrument reaches 0.5 and the clip gets no
player. :func:`audio.tagger.likeliest_when_unsure` then names those within a ratio of the likeliest.
How faint is a property of the weights, so the ratio is chosen per tagger, on rendered pieces that no
training used (URMP layout, ``*/AuMix_*.wav``, the players in the folder names): each clip is tagged
once, each candidate ratio (0: the rule off) applied to its presence, and the ratio with the highest
clip F1 (micro over clips and instruments, a clip's players those whose clip probability reaches 0.5)
wins, ties to the smaller one. ``--write`` saves it in the tagger's card (``unsure_ratio``, with the
scores it was chosen by), which :class:`audio.tagger.InstrumentTagger` reads.
"""
import argparse
from pathlib import Path

from tqdm import tqdm

from common.cli import add_debug_flag, print_table, run_cli
from common.errors import AvsepError
from common.files import write_json
from common.scoring import precision_recall_f1

RATIOS = (0.0, 0.6, 0.7, 0.8, 0.9)


def rendered_clips(root):
    """``{mix path: set of codes}`` of the rendered pieces under ``root`` (``*/AuMix_*.wav``)."""
    from fusion.instruments import parse_urmp_name

    return {path: set(parse_urmp_name(path.parent.name).codes) for path in sorted(Path(root).glob("*/AuMix_*.wav"))}


def micro_f1(rows):
    """``(precision, recall, f1)`` over ``[(truth set, predicted set)]``, counted per clip and instrument."""
    hits = sum(len(truth & predicted) for truth, predicted in rows)
    return precision_recall_f1(hits, sum(len(p) for _, p in rows), sum(len(t) for t, _ in rows))


def scores_by_ratio(heard, ratios):
    """``{ratio: (precision, recall, f1)}`` of ``[(truth, Presence without the rule)]`` under each ratio."""
    from audio.tagger import likeliest_when_unsure

    def decided(presence, ratio):
        return set((likeliest_when_unsure(presence, ratio) if ratio else presence).present_codes())

    return {ratio: micro_f1([(truth, decided(presence, ratio)) for truth, presence in heard]) for ratio in ratios}


def best_ratio(scores):
    """The ratio of the highest F1 in ``{ratio: (precision, recall, f1)}``; ties go to the smaller ratio."""
    return min(scores, key=lambda ratio: (-round(scores[ratio][2], 6), ratio))


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0].split(": ", 1)[1])
    parser.add_argument("--tagger", type=Path, required=True, help="the .keras tagger (its card .json beside it)")
    parser.add_argument("--data", type=Path, action="append", required=True,
                        help="a folder of rendered pieces no training used (repeatable)")
    parser.add_argument("--ratios", type=float, nargs="+", default=list(RATIOS),
                        help=f"candidate ratios, 0 for the rule off (default: {' '.join(map(str, RATIOS))})")
    parser.add_argument("--write", action="store_true", help="save the chosen ratio in the tagger's card")
    return add_debug_flag(parser)


def _run(args):
    from audio.tagger import InstrumentTagger, tag_media

    if any(not 0 <= ratio < 1 for ratio in args.ratios):
        raise AvsepError(f"--ratios must lie in [0, 1): {args.ratios}")
    clips = {}
    for folder in args.data:
        found = rendered_clips(folder)
        if not found:
            raise AvsepError(f"no rendered pieces (*/AuMix_*.wav) under {folder}")
        clips.update(found)
    tagger = InstrumentTagger(args.tagger, unsure_ratio=0)
    heard = [(truth, tag_media(path, tagger)) for path, truth in tqdm(clips.items(), desc="tagging", unit="clip")]
    scores = scores_by_ratio(heard, sorted(set(args.ratios)))
    chosen = best_ratio(scores)
    print_table(("ratio", "precision", "recall", "F1"),
                [(f"{r:g}" + (" (chosen)" if r == chosen else ""), *(f"{v:.3f}" for v in s)) for r, s in scores.items()])
    if args.write:
        card_path, card = args.tagger.with_suffix(".json"), dict(tagger.card)
        card["unsure_ratio"] = chosen
        card["unsure_ratio_choice"] = {"data": [str(folder) for folder in args.data], "clips": len(clips),
                                       "clip_f1": {f"{r:g}": round(s[2], 4) for r, s in scores.items()}}
        write_json(card_path, card)
        print(f"unsure ratio {chosen:g} saved in {card_path}")


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
