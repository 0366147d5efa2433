"""Speed of rendering training pieces from recorded samples (``data.synth --samples``), and what decoding costs.

    python benchmarks/render_speed.py [--samples ../shared/data/samples/philharmonia] [--pieces 6] [--workers 2]

Renders ``--pieces`` 30 s pieces (a fresh temporary folder, so every worker starts with an empty
decode cache) and prints seconds of audio per second of wall time. Then, in this process, renders
one piece twice with the sample renderer alone to show the decode cost: the first time decodes
every sample it needs, the second finds them in the per-process cache.
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from data.samples import SampleLibrary, decode_stats
from data.synth import main as synth_main
from data.synth import synthesize_piece
from data.scores import list_scores, split_of

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=ROOT.parent / "shared" / "data" / "samples" / "philharmonia")
    parser.add_argument("--pieces", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        synth_main(["--out", out, "--pieces", str(args.pieces), "--seed", "3", "--samples", str(args.samples),
                    "--workers", str(args.workers)])
        wall = time.perf_counter() - started
        audio_s = sum(soundfile.info(p).duration for p in Path(out).glob("*/AuMix_*.wav"))
    print(f"data.synth --samples: {args.pieces} pieces, {audio_s:.0f} s of audio in {wall:.1f} s = "
          f"{audio_s / wall:.1f}x real time with {args.workers} workers (including process start and score parsing)")

    library = SampleLibrary(args.samples)
    settings = {"score_ids": [s for s in list_scores() if split_of(s) == "train"], "soundfonts": [],
                "libraries": [library], "sample_share": 1.0, "seed": 3, "sample_rate": 22050, "seconds": 30.0,
                "reverb": True}
    for attempt in ("cold cache", "warm cache"):
        before, started = decode_stats(), time.perf_counter()
        _, codes, stems, _ = synthesize_piece(1, **settings)
        elapsed, after = time.perf_counter() - started, decode_stats()
        print(f"one piece ({'+'.join(codes)}, {stems.shape[1] / 22050:.0f} s), {attempt}: {elapsed:.2f} s, of which "
              f"decoding {after['files'] - before['files']} samples ({after['audio_s'] - before['audio_s']:.0f} s "
              f"of audio) took {after['seconds'] - before['seconds']:.2f} s")
    print(f"index of {args.samples.name}: {sum(len(v) for v in library.by_code.values())} usable notes, "
          f"{np.mean([len(v) for v in library.by_code.values()]):.0f} per instrument")


if __name__ == "__main__":
    main()
