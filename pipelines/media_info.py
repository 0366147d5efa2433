"""``python -m pipelines.media_info FILE...``: what ffmpeg sees in media files.

Prints one line per file: duration, picture size and frame rate, audio rate and channels.
A file that cannot be used gives a one-line error; the exit code is 2 if any file failed.
"""
import argparse
import sys

from common.cli import EXIT_BAD_INPUT, add_debug_flag, run_cli
from common.errors import AvsepError
from common.ffmpeg import probe_media


def describe(info):
    """One human-readable line for a :class:`common.ffmpeg.MediaInfo`."""
    parts = [f"{info.duration_s:.2f} s" if info.duration_s is not None else "duration unknown"]
    if info.has_video:
        parts.append(f"video {info.width}x{info.height} @ {info.fps:g} fps")
    parts.append(f"audio {info.sample_rate} Hz x {info.nb_channels} ch" if info.has_audio else "no audio")
    return f"{info.path}: " + ", ".join(parts)


def get_parser():
    parser = argparse.ArgumentParser(prog="python -m pipelines.media_info", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="audio or video files")
    return add_debug_flag(parser)


def _run(args):
    failed = 0
    for path in args.files:
        try:
            print(describe(probe_media(path)))
        except AvsepError as error:
            if args.debug:
                raise
            print(f"error: {error}", file=sys.stderr)
            failed += 1
    return EXIT_BAD_INPUT if failed else 0


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
