"""Input pipeline speed at the original Wave-U-Net's windows (input 147443, output 16389, K=13, 22.05 kHz).

    python benchmarks/input_speed.py [--root .cache/datasets/synth_test] [--tracks 8] [--batches 20]

Measures examples/s of the NumPy sampler (``data.sampler``) and of tf.data reading TFRecords
(``data.tfrecords.TFRecordBatches``, what training reads; written first to a temporary folder), batch 16, on this machine.
"""
import argparse
import tempfile
import time
from pathlib import Path

from data.sampler import StemSampler
from data.tfrecords import TFRecordBatches, write_tfrecords
from data.readers import read_urmp

INPUT, OUTPUT = 147443, 16389


def examples_per_second(batches, nb_batches, batch_size):
    """Rate of ``batches.batch(step)`` over steps 1..nb_batches, after step 0 warmed it up."""
    batches.batch(0)
    start = time.perf_counter()
    for step in range(1, nb_batches + 1):
        batches.batch(step)
    return nb_batches * batch_size / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(".cache/datasets/synth_test"))
    parser.add_argument("--tracks", type=int, default=8)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args(argv)
    tracks = read_urmp(args.root, 22050)[:args.tracks]
    sampler = StemSampler(tracks, INPUT, OUTPUT, args.batch_size)
    rate = examples_per_second(sampler, args.batches, args.batch_size)
    print(f"NumPy sampler: {rate:.0f} examples/s (batch {args.batch_size}, {len(tracks)} tracks in memory)")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        count = write_tfrecords(tracks, tmp, segment_length=3 * INPUT, context=(INPUT - OUTPUT) // 2, nb_shards=4,
                                progress=False)
        print(f"TFRecords: {count} records written in {time.perf_counter() - start:.1f} s")
        batches = TFRecordBatches(Path(tmp) / "*.tfrecord.gz", INPUT, OUTPUT, args.batch_size)
        rate = examples_per_second(batches, args.batches, args.batch_size)
        print(f"tf.data from TFRecords (crops, remix augmentation, prefetch, as NumPy for training): {rate:.0f} examples/s")


if __name__ == "__main__":
    main()
