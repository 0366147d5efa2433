"""Speed and peak memory of the separation job on this machine, for inputs of several lengths.

    python benchmarks/separate_speed.py [--model M] [--seconds 10 600 3600] [--no-wiener] [--nmf-blend W]

For each length a 44.1 kHz stereo noise file is written (in blocks, to a temporary folder), then
a fresh process runs the whole job on it as ``separate_audio --instruments vn,va,vc`` does
(``pipelines.separate.separate_media``: streamed decoding, separation of 3 named instruments, the
Wiener post-filter with its default NMF blend for named instruments, the report), so its peak
memory is its own. Prints the real-time factor (seconds of audio per second of compute) and the
process's peak RSS. Without --model it uses the shipped model, or an untrained one of
configs/default.yaml size.
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile


def write_noise(path, seconds, sample_rate=44100, block_s=60):
    """A stereo noise WAV of ``seconds``, written block by block."""
    rng = np.random.default_rng(0)
    with soundfile.SoundFile(path, "w", sample_rate, 2, subtype="FLOAT") as sound:
        for start in np.arange(0, seconds, block_s):
            frames = int(min(block_s, seconds - start) * sample_rate)
            sound.write(rng.standard_normal((frames, 2), dtype=np.float32) * 0.1)


def measure(model_path, media, wiener, nmf_blend=None):
    """Separate ``media`` into a temporary folder; print one line. ``nmf_blend``: None for the job's
    default with named instruments (``pipelines.separate.blend_weight``)."""
    from audio.separator import DEFAULT_MODEL, Separator
    from fusion.presence import Presence
    from pipelines.separate import blend_weight, postfilter_blend, separate_media

    if model_path is None and not DEFAULT_MODEL.exists():
        import yaml

        from audio.waveunet import WaveUNet

        model_path = tempfile.mktemp(suffix=".keras")
        WaveUNet(**yaml.safe_load(open("configs/default.yaml"))["model"]).save(model_path)
    separator = Separator(model_path)
    presence = Presence.constant(("vn", "va", "vc"))  # as --instruments names them
    nmf_blend = blend_weight(nmf_blend, wiener, presence.named)
    seconds = soundfile.info(media).duration
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        manifest = separate_media(media, Path(out) / "stems", separator, presence,
                                  wiener=wiener, nmf_blend=postfilter_blend(nmf_blend, wiener))
        elapsed = time.perf_counter() - start
    assert manifest["nb_samples"] == soundfile.info(media).frames
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    postfilter = (", Wiener" if wiener else "") + (f", NMF blend {nmf_blend:g}" if nmf_blend else "")
    print(f"{seconds:>6.0f} s input: {elapsed:7.1f} s, {seconds / elapsed:5.1f}x real time, peak RSS {peak_mb:,.0f} MB "
          f"(whole job{postfilter}, report; {separator.model.count_params() / 1e6:.2f}M params, "
          f"{separator.model_path.name})", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help=".keras file (default: the shipped model)")
    parser.add_argument("--seconds", type=float, nargs="+", default=[10, 600, 3600])
    parser.add_argument("--wiener", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--nmf-blend", type=float,
                        help="NMF's share of the Wiener filter's models (default: the job's with named instruments)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one file in this process
    args = parser.parse_args(argv)
    if args.one:
        return measure(args.model, args.one, args.wiener, args.nmf_blend)
    with tempfile.TemporaryDirectory() as folder:
        for seconds in args.seconds:
            media = Path(folder) / f"noise-{seconds:.0f}s.wav"
            write_noise(media, seconds)
            command = [sys.executable, __file__, "--one", str(media), "--wiener" if args.wiener else "--no-wiener",
                       *(["--nmf-blend", str(args.nmf_blend)] if args.nmf_blend is not None else [])]
            subprocess.run(command + (["--model", args.model] if args.model else []), check=True,
                           env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
            media.unlink()


if __name__ == "__main__":
    main()
