"""``python -m data.compress SRC [SRC ...] --out DIR``: a small Ogg Opus copy of training folders.

A GPU machine takes a few tens of MiB with it (the guide's device tool carries 64 MiB), while
one rendered piece is ~10 MB of float WAV. This copies the stems (``AuSep_*``) of each URMP-layout
piece folder under each ``SRC`` to ``DIR/<SRC name>/<piece>/`` as Ogg Opus (ffmpeg's libopus,
resampled to 24 kHz, ``--bitrate`` per stem, ~70 kB for 30 s at 20 kbit/s), with its
``meta.json``; the mixture is left out (the readers then sum the stems). ``data.readers`` reads
the copy as it reads the original, and ``audio.io.read_audio`` decodes Opus with libsndfile,
so training there needs no ffmpeg. ``--pieces N`` takes the first N pieces of each source.

Lossy: at 20 kbit/s a stem's waveform differs from the original by ~-20 dB and the band above
8 kHz loses ~15% of its energy. Mix and targets are built from the same decoded stems, so the
task stays consistent; only the timbres carry the codec's colour.
"""
import argparse
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from common.cli import add_debug_flag, run_cli
from common.errors import AvsepError, InvalidNameError, UnknownInstrumentError
from common.ffmpeg import ffmpeg_error_line, ffmpeg_exe
from fusion.instruments import parse_urmp_name

OPUS_RATE = 24000  # libopus takes 8, 12, 16, 24 or 48 kHz; 24 kHz keeps the band a 22.05 kHz model hears


def piece_folders(source):
    """The URMP piece folders (``NN_Title_codes``) directly under ``source``, sorted."""
    folders = []
    for folder in sorted(p for p in Path(source).iterdir() if p.is_dir()):
        try:
            parse_urmp_name(folder.name)
        except (InvalidNameError, UnknownInstrumentError):
            continue
        folders.append(folder)
    return folders


def encode_opus(source, destination, bitrate):
    """Encode one audio file to Ogg Opus at ``OPUS_RATE`` Hz; written to a temp name, then renamed."""
    partial = destination.with_name(destination.name + ".part")
    command = [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(source), "-ar", str(OPUS_RATE),
               "-c:a", "libopus", "-b:a", bitrate, "-f", "ogg", str(partial)]
    result = subprocess.run(command, capture_output=True)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise AvsepError(f"cannot encode {source}: {ffmpeg_error_line(result.stderr)}")
    partial.replace(destination)


def compress_piece(folder, destination, bitrate):
    """Opus copies of ``folder``'s stems and its ``meta.json`` in ``destination``; returns their bytes."""
    destination.mkdir(parents=True, exist_ok=True)
    meta = folder / "meta.json"
    if meta.is_file():
        shutil.copyfile(meta, destination / meta.name)
    for stem in sorted(folder.glob("AuSep_*")):
        target = destination / f"{stem.stem}.opus"
        if not target.exists():  # a rerun finishes an interrupted copy
            encode_opus(stem, target, bitrate)
    return sum(p.stat().st_size for p in destination.iterdir())


def compress(sources, out, bitrate="20k", pieces=None, workers=2):
    """Copy the first ``pieces`` piece folders of each source (all when None) into ``out``.

    Returns:
        ``(number of pieces, bytes written)``.
    """
    jobs = []
    for source in sources:
        source = Path(source)
        if not source.is_dir():
            raise AvsepError(f"no such folder: {source}")
        folders = piece_folders(source)
        if not folders:
            raise AvsepError(f"no URMP piece folders (like 01_Jupiter_vn_vc) in {source}")
        jobs += [(folder, Path(out) / source.name / folder.name) for folder in folders[:pieces]]
    with ThreadPoolExecutor(workers) as pool:  # the work is in ffmpeg processes
        sizes = list(tqdm(pool.map(lambda job: compress_piece(*job, bitrate), jobs), total=len(jobs), unit="piece"))
    return len(jobs), sum(sizes)


def get_parser():
    parser = argparse.ArgumentParser(prog="python -m data.compress", description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", type=Path, help="folders of URMP-layout pieces (python -m data.synth)")
    parser.add_argument("--out", required=True, type=Path, help="output folder: one subfolder per source")
    parser.add_argument("--bitrate", default="20k", help="Opus bitrate per stem, ffmpeg style (default: 20k)")
    parser.add_argument("--pieces", type=int, help="take the first N pieces of each source (default: all)")
    parser.add_argument("--workers", type=int, default=2, help="ffmpeg processes at once")
    return add_debug_flag(parser)


def _run(args):
    if args.pieces is not None and args.pieces < 1:
        raise AvsepError(f"--pieces must be at least 1, got {args.pieces}")
    if args.workers < 1:
        raise AvsepError(f"--workers must be at least 1, got {args.workers}")
    count, size = compress(args.sources, args.out, args.bitrate, args.pieces, args.workers)
    print(f"{args.out}: {count} pieces, {size / 2 ** 20:.1f} MiB")
    return 0


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
