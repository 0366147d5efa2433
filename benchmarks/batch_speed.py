"""Batch throughput on Ray: items per minute with 1 and 2 workers, and against a two-node local cluster.

    python benchmarks/batch_speed.py [--items 8] [--seconds 10]

Builds a URMP-layout tree of ``--items`` pieces (``--seconds`` of audio each, labels from the
folder names), then runs ``python -m pipelines.batch`` three times: a local instance with 1 and
2 workers, and a cluster of two nodes started with ``ray start`` on loopback addresses
(127.0.0.2 head, 127.0.0.3 worker; 1 CPU each), unchanged but for ``--address``. Last, both
stages: ``--items`` copies of the demo video, presence detected by the demo detector (stage 1),
then separated (stage 2), 1 separation worker.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).parent / "ray")


def make_tree(root, items, seconds):
    from audio.io import write_audio

    rng = np.random.default_rng(0)
    for index in range(1, items + 1):
        name = f"{index:02d}_Bench_vn_vc"
        t = np.arange(int(seconds * 22050)) / 22050
        mix = 0.2 * np.sin(2 * np.pi * rng.uniform(200, 800) * t) + 0.01 * rng.standard_normal(len(t))
        write_audio(root / name / f"AuMix_{name}.wav", mix, 22050)


def make_video_tree(root, items):
    import shutil

    demo = ROOT / "demo" / "Vid_05_Gloria73C_vc_sax_sax.mp4"
    for index in range(1, items + 1):
        name = f"{index:02d}_Demo_vc_sax_sax"
        (root / name).mkdir(parents=True)
        shutil.copy(demo, root / name / f"Vid_{name}.mp4")
    return demo


def run_batch(tree, out, extra, env=None, labels=True):
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipelines.batch", str(tree), "--out", str(out), "--force",
                    *(["--labels"] if labels else []), *extra], cwd=ROOT, check=True, capture_output=True,
                   env={**os.environ, **(env or {})})
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "urmp"
        make_tree(tree, args.items, args.seconds)
        for workers in (1, 2):
            elapsed = run_batch(tree, Path(tmp) / "out", ["--workers", str(workers)])
            print(f"local Ray, {workers} worker(s): {args.items} items of {args.seconds:g} s in {elapsed:.1f} s = "
                  f"{60 * args.items / elapsed:.1f} items/min (including Ray start and model loads)")
        # explicit loopback addresses other than 127.0.0.1, which Ray would swap for the LAN address
        env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1", "RAY_AUTH_MODE": "token"}
        subprocess.run([RAY, "start", "--head", "--node-ip-address=127.0.0.2", "--port=6479", "--num-cpus=1",
                        "--disable-usage-stats", "--include-dashboard=false"], env=env, check=True, capture_output=True)
        try:
            subprocess.run([RAY, "start", "--address=127.0.0.2:6479", "--node-ip-address=127.0.0.3", "--num-cpus=1",
                            "--disable-usage-stats"], env=env, check=True, capture_output=True)
            elapsed = run_batch(tree, Path(tmp) / "out", ["--address", "127.0.0.2:6479", "--workers", "2"],
                                {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1"})
            print(f"two-node cluster (127.0.0.2 + 127.0.0.3, 1 CPU each), 2 workers: {args.items} items in "
                  f"{elapsed:.1f} s = {60 * args.items / elapsed:.1f} items/min")
        finally:
            subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True)
        videos = Path(tmp) / "videos"
        make_video_tree(videos, args.items)
        elapsed = run_batch(videos, Path(tmp) / "out-videos", ["--workers", "1", "--detector",
                                                              str(ROOT / "models" / "demo_detector.pt")], labels=False)
        print(f"two stages (detection on the demo video, then separation), 1 separation worker: {args.items} "
              f"videos of 32 s in {elapsed:.1f} s = {60 * args.items / elapsed:.1f} items/min")


if __name__ == "__main__":
    main()
