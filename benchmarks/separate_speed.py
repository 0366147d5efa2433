"""Separation speed and peak memory on this machine, for inputs of several lengths.

    python benchmarks/separate_speed.py [--model M] [--seconds 10 600 3600]

Each length runs in a fresh process (so peak memory is its own): a 44.1 kHz stereo noise
mixture with 3 instruments present goes through ``audio.separator.Separator``. Prints the
real-time factor (seconds of audio per second of compute) and the process's peak RSS.
Without --model it uses the shipped model, or an untrained one of configs/default.yaml size.
"""
import argparse
import resource
import subprocess
import sys
import time

import numpy as np


def measure(model_path, seconds):
    """Separate ``seconds`` of noise; print one line."""
    from audio.separator import DEFAULT_MODEL, Separator
    from fusion.instruments import presence_vector

    if model_path is None and not DEFAULT_MODEL.exists():
        import tempfile

        import yaml

        from audio.waveunet import WaveUNet

        model_path = tempfile.mktemp(suffix=".keras")
        WaveUNet(**yaml.safe_load(open("configs/default.yaml"))["model"]).save(model_path)
    separator = Separator(model_path)
    mixture = (np.random.default_rng(0).standard_normal((2, int(seconds * 44100)), dtype=np.float32) * 0.1)
    start = time.perf_counter()
    stems = separator.separate(mixture, 44100, presence_vector(("vn", "va", "vc")))
    elapsed = time.perf_counter() - start
    assert all(s.shape == (1, mixture.shape[1]) for s in stems.values())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{seconds:>6.0f} s input: {elapsed:7.1f} s, {seconds / elapsed:5.1f}x real time, "
          f"peak RSS {peak_mb:,.0f} MB ({separator.model.count_params() / 1e6:.2f}M params, {separator.model_path.name})",
          flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help=".keras file (default: the shipped model)")
    parser.add_argument("--seconds", type=float, nargs="+", default=[10, 600, 3600])
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)  # internal: measure one length here
    args = parser.parse_args(argv)
    if args.one:
        return measure(args.model, args.one)
    for seconds in args.seconds:
        command = [sys.executable, __file__, "--one", str(seconds)] + (["--model", args.model] if args.model else [])
        subprocess.run(command, check=True, env={**__import__("os").environ, "PYTHONPATH": "."})


if __name__ == "__main__":
    main()
