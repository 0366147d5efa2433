"""``python -m pipelines.separate_video VIDEO``: one WAV per instrument seen playing in a video.

Presence comes from both senses (``--presence-from both``, the default): the detector on the
video's frames and the instrument tagger on its sound, fused by ``fusion.evidence``; or from one
(``--presence-from video|audio``), or from ``--instruments vn,vc`` or ``--presence FILE``. Without
the detector's weights (offline), the sound decides alone, with a warning. Writes ``OUT/<code>.wav`` (the video's sample rate and exact
length, sample-aligned with its soundtrack), ``OUT/manifest.json``, and with ``--videos``
``OUT/<code>.mp4``. Default OUT: ``separated/<video stem>/``.
"""
import argparse
import sys
from pathlib import Path

from common.cli import add_debug_flag, run_cli
from fusion.evidence import PRESENCE_SOURCES
from fusion.presence import named_scores
from vision.detector import DEFAULT_WEIGHTS


def add_separation_arguments(parser, detector=True):
    """The options that separate_video and separate_audio share."""
    parser.add_argument("--out", type=Path, help="output folder (default: separated/<input stem>/)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--instruments", help="comma-separated codes that play, e.g. vn,vc (skips detection)")
    group.add_argument("--presence", type=Path, help="a presence JSON from vision.detect_instruments")
    if detector:
        parser.add_argument("--presence-from", choices=PRESENCE_SOURCES, default="both",
                            help="which senses decide who plays: both (default), video (detector) or audio (tagger)")
        parser.add_argument("--detector", default=DEFAULT_WEIGHTS,
                            help=f"ultralytics weights for detection (default {DEFAULT_WEIGHTS}, fetched when online)")
        parser.add_argument("--fps", type=float,
                            help="frames sampled per second for detection (default 1; 0.25 beside the sound)")
        parser.add_argument("--imgsz", type=int,
                            help="detector input size in pixels (default: the weights' own; 480 beside the sound)")
    parser.add_argument("--tagger", type=Path, help="a .keras instrument tagger (default: the shipped one)")
    parser.add_argument("--model", type=Path, help="a .keras separation model (default: the shipped one)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output")
    parser.add_argument("--wiener", action=argparse.BooleanOptionalAction, default=True,
                        help="Wiener post-filter of the stems (norbert soft masks of their power; on by default: "
                             "+1.3 dB mean SDR on the real URMP excerpts; stereo stems of a stereo input)")
    parser.add_argument("--nmf-blend", type=float, metavar="WEIGHT",
                        help="mix supervised NMF's stems into the Wiener filter's source models with this weight "
                             "(0: off; default 0.25 with --instruments, where it raises mean SDR on every held-out "
                             "set, with more artefacts (lower SAR), and 0 when the senses find the players; see README)")
    parser.add_argument("--level-match", action=argparse.BooleanOptionalAction, default=True,
                        help="scale the input to the level the model trained at, and the stems back (on by "
                             "default: the network separates worse far from that level)")
    parser.add_argument("--allow-partial", action="store_true",
                        help="separate a file that decodes shorter than it says (truncated), with a warning")
    return add_debug_flag(parser)


def run_separation(args, media):
    """Check the output, the input and a hand-given presence; load the model; find presence if needed; separate.

    Everything a user can get wrong is checked before any model is loaded, so a bad ``--out`` or
    presence file fails in a second, not after the separation.
    """
    from audio.separator import Separator
    from common.ffmpeg import check_media_file
    from pipelines.output_folder import check_output
    from pipelines.separate import blend_weight, postfilter_blend, resolve_presence, separate_media

    out = args.out or Path("separated") / Path(media).stem
    check_output(out, args.force)
    check_media_file(media)
    given = args.instruments is not None or args.presence
    presence = resolve_presence(media, args.instruments, args.presence) if given else None
    named = presence is not None and presence.named
    nmf_blend = postfilter_blend(blend_weight(args.nmf_blend, args.wiener, named), args.wiener)
    separator = Separator(args.model, level_match=args.level_match)
    presence = presence or resolve_presence(media, detector=getattr(args, "detector", None),
                                            fps=getattr(args, "fps", None), imgsz=getattr(args, "imgsz", None),
                                            presence_from=getattr(args, "presence_from", "audio"), tagger=args.tagger)
    manifest = separate_media(media, out, separator, presence, videos=getattr(args, "videos", False),
                              force=args.force, progress=True, allow_partial=args.allow_partial, wiener=args.wiener,
                              nmf_blend=nmf_blend)
    if not manifest["instruments"]:
        print(f"{media}: no instrument judged present; nothing separated (see {out / 'manifest.json'})")
    else:
        print(f"{media}: {', '.join(manifest['instruments'])} -> {out}/ "
              f"({manifest['duration_s']:.1f} s in {manifest['timings']['separate_s']:.1f} s)")
    if not given:
        print_doubts(presence, manifest["instruments"])
    return 0


def print_doubts(presence, separated):
    """One line naming the instruments the senses were unsure of, and the command that adds one."""
    doubtful = presence.doubtful_codes(exclude=separated)
    if doubtful:
        print(f"unsure of: {named_scores(doubtful)} (below 0.5); if one of them plays, run again with "
              f"--instruments {','.join([*separated, doubtful[0][0]])} (and --force)")


def get_parser():
    parser = argparse.ArgumentParser(prog="python -m pipelines.separate_video", description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--videos", action="store_true", help="also write <code>.mp4 with the original picture")
    return add_separation_arguments(parser)


def _run(args):
    return run_separation(args, args.video)


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
