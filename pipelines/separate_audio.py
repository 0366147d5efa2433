"""``python -m pipelines.separate_audio AUDIO [--instruments vn,vc]``: separate an audio file.

Like ``separate_video`` without a picture: presence comes from ``--instruments``,
``--presence FILE``, or else from the sound (the instrument tagger, ``audio.tagger``). Writes ``OUT/<code>.wav`` at the input's rate and exact length, and
``OUT/manifest.json``. Default OUT: ``separated/<audio stem>/``.
"""
import argparse
import sys
from pathlib import Path

from common.cli import run_cli
from pipelines.separate_video import add_separation_arguments, run_separation


def get_parser():
    parser = argparse.ArgumentParser(prog="python -m pipelines.separate_audio", description=__doc__.splitlines()[0])
    parser.add_argument("audio", type=Path)
    return add_separation_arguments(parser, detector=False)


def _run(args):
    return run_separation(args, args.audio)


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
