"""Input pipeline speed, at the original Wave-U-Net's windows (input 147443, output 16389, K=13, 22.05 kHz) or a config's.

    python benchmarks/input_speed.py [--root .cache/datasets/synth_test] [--tracks 8] [--batches 20]
    python benchmarks/input_speed.py --config configs/gpu.yaml --workers 7 --skip-tfrecords

Measures examples/s of the NumPy sampler (``data.sampler``) and of tf.data reading TFRecords
(``data.tfrecords.TFRecordBatches``, what training reads; written first to a temporary folder), batch 16, on this machine.
With ``--config``, both read that config's windows and batch size, and the sampler also applies its
equaliser and repitching; with ``--workers N`` it is measured again in N worker processes
(``data.batch_workers``), as ``training.data_workers`` runs it: whether the CPUs can feed a GPU.
"""
import argparse
import tempfile
import time
from pathlib import Path

from audio.architectures import window_lengths
from data.batch_workers import ParallelBatches
from data.sampler import StemSampler
from data.readers import read_urmp
from pipelines.train import load_config, sampler_options

INPUT, OUTPUT = 147443, 16389


def examples_per_second(batches, nb_batches, batch_size):
    """Rate of ``batches.batch(step)`` over steps 1..nb_batches, after step 0 warmed it up."""
    batches.batch(0)
    start = time.perf_counter()
    for step in range(1, nb_batches + 1):
        batches.batch(step)
    return nb_batches * batch_size / (time.perf_counter() - start)


def sampler_settings(args):
    """``(input_length, output_length, batch_size, sampler keywords)`` of ``--config``, else of the options."""
    if not args.config:
        return INPUT, OUTPUT, args.batch_size, {}
    config = load_config(args.config)
    return (*window_lengths(config["model"]), config["training"]["batch_size"], sampler_options(config))


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(".cache/datasets/synth_test"))
    parser.add_argument("--tracks", type=int, default=8)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--config", type=Path,
                        help="build this training config's batches (windows, batch size, gains, augmentation)")
    parser.add_argument("--workers", type=int, default=0, help="also measure the sampler in this many worker processes")
    parser.add_argument("--skip-tfrecords", action="store_true", help="measure the NumPy sampler only (no TensorFlow)")
    return parser


def main(argv=None):
    args = get_parser().parse_args(argv)
    input_length, output_length, batch_size, options = sampler_settings(args)
    tracks = read_urmp(args.root, options.get("sample_rate", 22050))[:args.tracks]
    sampler = StemSampler(tracks, input_length, output_length, batch_size, **options)
    what = f"batch {batch_size}, windows {input_length} / {output_length}, {len(tracks)} tracks in memory" + (
        f", eq_db {options['eq_db']:g}, repitch {options['repitch_semitones']:g}" if options else "")
    rate = examples_per_second(sampler, args.batches, batch_size)
    print(f"NumPy sampler: {rate:.0f} examples/s ({what})")
    if args.workers:
        workers = ParallelBatches(sampler, args.workers)
        try:
            rate = examples_per_second(workers, args.batches, batch_size)
        finally:
            workers.close()
        print(f"NumPy sampler in {args.workers} worker processes: {rate:.0f} examples/s")
    if not args.skip_tfrecords:
        tfrecords_speed(tracks, input_length, output_length, batch_size, args.batches)


def tfrecords_speed(tracks, input_length, output_length, batch_size, nb_batches):
    """Write the tracks as TFRecords in a temporary folder, then time tf.data reading batches of those windows."""
    from data.tfrecords import TFRecordBatches, write_tfrecords

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        count = write_tfrecords(tracks, tmp, segment_length=3 * input_length,
                                context=(input_length - output_length) // 2, nb_shards=4, progress=False)
        print(f"TFRecords: {count} records written in {time.perf_counter() - start:.1f} s")
        batches = TFRecordBatches(Path(tmp) / "*.tfrecord.gz", input_length, output_length, batch_size)
        rate = examples_per_second(batches, nb_batches, batch_size)
        print(f"tf.data from TFRecords (batch {batch_size}, windows {input_length} / {output_length}; crops, remix "
              f"augmentation, prefetch, as NumPy for training): {rate:.0f} examples/s")


if __name__ == "__main__":
    main()
