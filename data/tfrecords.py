"""``python -m data.tfrecords ROOT --out DIR``: a dataset's tracks as sharded, compressed TFRecords.

One record is one segment of a track, in the seed's schema plus presence labels:

=========================  =====  ===============================================================
``audio/file_basename``    bytes  the track's name
``audio/sample_rate``      int64  Hz
``audio/sample_idx``       int64  first sample of the segment in the track
``audio/num_samples``      int64  samples per channel of the segment (S)
``audio/channels``         int64  C (1: mono)
``audio/num_sources``      int64  K (the vocabulary)
``audio/encoded``          bytes  float32 little-endian: the mix segment, then the K source segments,
                                  ``(1 + K) * S * C`` values (raw bytes: a float list parses ~100x slower)
``audio/labels``           float  the K-dimensional presence vector
=========================  =====  ===============================================================

Segments are cut with the model's context in mind: they overlap by ``context`` samples, so any
output window inside a segment has its context inside it too. :func:`make_dataset` reads them
with tf.data: parse, random crops of the model's input window (a random time shift per example),
on-the-fly augmentation (random source gains with the mix rebuilt from its sources; remixes with
a random instrument subset of another crop, from another place or track, so sources are shifted
against each other; labels following), shuffle, batch, prefetch, optional bfloat16. Whatever the
mix holds beyond the K sources (stems outside the vocabulary: a piano, MUSDB's drums) stays in
the rebuilt mix as accompaniment, with its own random gain.
"""
import argparse
import glob
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from common.cli import add_debug_flag, run_cli
from common.errors import AvsepError
from data.readers import FORMATS, read_dataset
from fusion.instruments import NB_INSTRUMENTS


def _tf():
    from audio.backend import keras  # noqa: F401  (safe import order: triton before TensorFlow)
    import tensorflow as tf

    return tf


def segments(track_mix, targets, segment_length, context):
    """Yield ``(start, mix (S,), sources (K, S))`` over a track, zero-padded at its end."""
    nb_samples = track_mix.shape[-1]
    hop = segment_length - 2 * context
    for start in range(-context, max(nb_samples - context, 1), hop):
        window = np.zeros((1 + NB_INSTRUMENTS, segment_length), dtype=np.float32)
        lo, hi = max(start, 0), min(start + segment_length, nb_samples)
        window[0, lo - start:hi - start] = track_mix[lo:hi]
        window[1:, lo - start:hi - start] = targets[:, lo:hi]
        yield start, window


def serialize(name, sample_rate, start, window, labels):
    """One ``tf.train.Example`` as bytes, in the schema above."""
    tf = _tf()
    feature = {
        "audio/file_basename": tf.train.Feature(bytes_list=tf.train.BytesList(value=[name.encode()])),
        "audio/sample_rate": tf.train.Feature(int64_list=tf.train.Int64List(value=[sample_rate])),
        "audio/sample_idx": tf.train.Feature(int64_list=tf.train.Int64List(value=[start])),
        "audio/num_samples": tf.train.Feature(int64_list=tf.train.Int64List(value=[window.shape[1]])),
        "audio/channels": tf.train.Feature(int64_list=tf.train.Int64List(value=[1])),
        "audio/num_sources": tf.train.Feature(int64_list=tf.train.Int64List(value=[NB_INSTRUMENTS])),
        "audio/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[window.astype("<f4").tobytes()])),
        "audio/labels": tf.train.Feature(float_list=tf.train.FloatList(value=labels)),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_tfrecords(tracks, out_dir, segment_length, context, nb_shards=8, progress=True):
    """Write every track's segments round-robin into ``nb_shards`` GZIP shards; return the record count.

    The tracks must be read at a fixed rate (``read_dataset(root, sample_rate=...)``).
    """
    tf = _tf()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"data-{i:05d}-of-{nb_shards:05d}.tfrecord.gz" for i in range(nb_shards)]
    tmp_paths = [p.with_name(f".{p.name}.tmp") for p in paths]
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    writers = [tf.io.TFRecordWriter(str(p), options) for p in tmp_paths]
    count = 0
    try:
        for track in tqdm(tracks, desc="tfrecords", unit="track", disable=not progress):
            mix, targets = track.mixture_and_targets()
            mix, targets = mix.mean(axis=0), targets.mean(axis=1)  # mono: (nb_samples,), (K, nb_samples)
            for start, window in segments(mix, targets, segment_length, context):
                writers[count % nb_shards].write(serialize(track.name, track.sample_rate, start, window, track.presence))
                count += 1
    finally:
        for writer in writers:
            writer.close()
    for tmp, path in zip(tmp_paths, paths):
        tmp.replace(path)
    return count


def parse(record):
    """Parse one record into ``(window (1 + K, S), labels (K,))``."""
    tf = _tf()
    spec = {"audio/encoded": tf.io.FixedLenFeature([], tf.string),
            "audio/labels": tf.io.FixedLenFeature([NB_INSTRUMENTS], tf.float32),
            "audio/num_samples": tf.io.FixedLenFeature([], tf.int64)}
    example = tf.io.parse_single_example(record, spec)
    encoded = tf.io.decode_raw(example["audio/encoded"], tf.float32, little_endian=True)
    window = tf.reshape(encoded, (1 + NB_INSTRUMENTS, tf.cast(example["audio/num_samples"], tf.int32)))
    return window, example["audio/labels"]


def make_dataset(pattern, input_length, output_length, batch_size, shuffle=True, augment=True,
                 remix_probability=0.5, gain_db=(-6.0, 3.0), bfloat16=False, seed=0, crops_per_record=8):
    """A tf.data pipeline of training batches from TFRecords.

    Returns:
        a ``tf.data.Dataset`` of ``({"mix": (B, input_length, 1), "presence": (B, K)}, targets (B, K, output_length, 1))``.
    """
    tf = _tf()
    context = (input_length - output_length) // 2
    files = tf.data.Dataset.list_files(str(pattern), shuffle=shuffle, seed=seed)
    records = files.interleave(lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
                               num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle)
    if shuffle:
        records = records.shuffle(16, seed=seed)  # records are tens of MB: a small buffer, files interleaved
    windows = records.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    # several crops from each record: a record is tens of MB, and reading it is the cost
    def repeated(window, labels):
        return tf.data.Dataset.from_tensors((window, labels)).repeat(crops_per_record)

    def cropped(window, labels):
        return _random_crop(window, labels, input_length)

    crops = windows.flat_map(repeated).map(cropped, num_parallel_calls=tf.data.AUTOTUNE)
    if shuffle:
        crops = crops.shuffle(4 * crops_per_record, seed=seed + 1)
    if augment:
        # pair consecutive crops: each is remixed with the other, so nothing is read twice
        def each_with_the_other(windows, labels):
            first = tf.data.Dataset.from_tensor_slices((windows, labels))
            second = tf.data.Dataset.from_tensor_slices((tf.reverse(windows, [0]), tf.reverse(labels, [0])))
            return tf.data.Dataset.zip((first, second))

        crops = crops.batch(2, drop_remainder=True).flat_map(each_with_the_other)
        crops = crops.map(lambda a, b: _augment(a, b, remix_probability, gain_db), num_parallel_calls=tf.data.AUTOTUNE)

    def to_example(window, labels):
        mix = window[0][:, None]
        targets = window[1:, context:context + output_length][..., None]
        dtype = tf.bfloat16 if bfloat16 else tf.float32
        return {"mix": tf.cast(mix, dtype), "presence": labels}, tf.cast(targets, dtype)

    batches = crops.map(to_example, num_parallel_calls=tf.data.AUTOTUNE).repeat().batch(batch_size, drop_remainder=True)
    return batches.prefetch(tf.data.AUTOTUNE)


def _random_crop(window, labels, input_length):
    tf = _tf()
    start = tf.random.uniform((), 0, tf.shape(window)[1] - input_length + 1, dtype=tf.int32)
    return window[:, start:start + input_length], labels


def _augment(first, second, remix_probability, gain_db):
    """Random gains on the sources; sometimes add a random subset of another crop's sources.

    The mix is rebuilt as the sum of the sources plus the accompaniment (what the mix held beyond them).
    """
    tf = _tf()
    (window, labels), (other, other_labels) = first, second
    sources = window[1:]
    accompaniment = window[0] - tf.reduce_sum(sources, axis=0)
    remix = tf.random.uniform(()) < remix_probability
    keep_other = tf.cast(tf.random.uniform((NB_INSTRUMENTS,)) < 0.5, tf.float32) * tf.cast(remix, tf.float32)
    sources = sources + other[1:] * keep_other[:, None]
    labels = tf.minimum(labels + other_labels * keep_other, 1.0)
    gains = 10 ** (tf.random.uniform((NB_INSTRUMENTS,), *gain_db) / 20)
    sources = sources * gains[:, None]
    accompaniment_gain = 10 ** (tf.random.uniform((), *gain_db) / 20)
    mix = tf.reduce_sum(sources, axis=0, keepdims=True) + accompaniment[None] * accompaniment_gain
    peak = tf.maximum(tf.reduce_max(tf.abs(mix)), 1.0)
    return tf.concat([mix, sources], axis=0) / peak, labels


class TFRecordBatches:
    """Training batches of :func:`make_dataset` as NumPy arrays, for :func:`audio.train.train`.

    ``batch(step)`` gives the pipeline's next batch. Unlike the NumPy sampler the batches do not
    depend on ``step``: a resumed run starts a fresh shuffle seeded by its first step.
    """

    def __init__(self, pattern, input_length, output_length, batch_size, seed=0, **options):
        if not glob.glob(str(pattern)):
            raise AvsepError(f"no TFRecord files match {pattern} (make them with python -m data.tfrecords)")
        self.pattern, self.input_length, self.output_length = pattern, input_length, output_length
        self.batch_size, self.seed, self.options = batch_size, seed, options
        self._iterator = None

    def batch(self, step):
        """The next ``({"mix": (B, input_length, 1), "presence": (B, K)}, targets (B, K, output_length, 1))``."""
        if self._iterator is None:
            dataset = make_dataset(self.pattern, self.input_length, self.output_length, self.batch_size,
                                   seed=self.seed + step, **self.options)
            self._iterator = iter(dataset)
        inputs, targets = next(self._iterator)
        return {name: value.numpy() for name, value in inputs.items()}, targets.numpy()


def get_parser():
    parser = argparse.ArgumentParser(prog="python -m data.tfrecords", description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="dataset folder (URMP layout, ours, MUSDB18, MedleyDB or Bach10)")
    parser.add_argument("--format", default="auto", choices=("auto", *FORMATS), help="dataset layout (default: detect)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sample-rate", type=int, default=22050)
    parser.add_argument("--segment-length", type=int, default=3 * 147443, help="samples per record")
    parser.add_argument("--context", type=int, default=65527, help="the model's context (147443-16389)/2")
    parser.add_argument("--shards", type=int, default=8)
    return add_debug_flag(parser)


def _run(args):
    tracks = read_dataset(args.root, args.format, args.sample_rate)
    count = write_tfrecords(tracks, args.out, args.segment_length, args.context, args.shards)
    print(f"{count} records from {len(tracks)} tracks in {args.shards} shards under {args.out}")


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
