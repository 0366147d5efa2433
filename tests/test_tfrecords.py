import numpy as np
import pytest

from data.tfrecords import main as tfrecords_main, make_dataset, segments, write_tfrecords
from data.readers import read_urmp
from tests.sine_pieces import write_piece

SR = 8000


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    root = tmp_path_factory.mktemp("urmp")
    write_piece(root, 1, ("vn", "vc"), seconds=1.0)
    write_piece(root, 2, ("fl", "tba"), seconds=0.5, seed=2)
    out = tmp_path_factory.mktemp("records")
    count = write_tfrecords(read_urmp(root, SR), out, segment_length=1200, context=100, nb_shards=2, progress=False)
    return out, count


def test_segments_cover_the_track_with_context():
    mix = np.arange(1000, dtype=np.float32)
    targets = np.stack([mix] * 13)
    windows = list(segments(mix, targets, segment_length=400, context=50))
    starts = [s for s, _ in windows]
    assert starts == [-50, 250, 550, 850]  # hop 300: every output region [start+50, start+350) tiles the track
    first = windows[0][1]
    assert np.all(first[0, :50] == 0) and first[0, 50] == 0 and first[0, 51] == 1


def test_records_read_back_as_training_batches(records):
    out, count = records
    assert count == 8 + 4  # hop 1200 - 2 * 100: 8 segments cover 8000 samples, 4 cover 4000
    dataset = make_dataset(out / "*.tfrecord.gz", input_length=600, output_length=400, batch_size=3,
                           shuffle=False, augment=False)
    inputs, targets = next(iter(dataset))
    assert inputs["mix"].shape == (3, 600, 1) and inputs["presence"].shape == (3, 13)
    assert targets.shape == (3, 13, 400, 1)
    mix, presence, targets = inputs["mix"].numpy(), inputs["presence"].numpy(), targets.numpy()
    for example in range(3):
        np.testing.assert_allclose(targets[example].sum(axis=0), mix[example, 100:500], atol=1e-5)
        assert np.all(targets[example][presence[example] == 0] == 0)


def test_augmented_batches_keep_mix_equal_to_sum_of_targets(records):
    out, _ = records
    dataset = make_dataset(out / "*.tfrecord.gz", input_length=600, output_length=400, batch_size=4,
                           remix_probability=1.0, bfloat16=False)
    inputs, targets = next(iter(dataset))
    mix, presence, targets = inputs["mix"].numpy(), inputs["presence"].numpy(), targets.numpy()
    np.testing.assert_allclose(targets.sum(axis=1), mix[:, 100:500], atol=1e-5)
    assert np.all(np.abs(mix) <= 1.0 + 1e-6)
    for example in range(4):
        assert np.all(targets[example][presence[example] == 0] == 0)


def test_bfloat16_cast(records):
    import tensorflow as tf

    out, _ = records
    inputs, targets = next(iter(make_dataset(out / "*.tfrecord.gz", 600, 400, 2, bfloat16=True)))
    assert inputs["mix"].dtype == tf.bfloat16 and targets.dtype == tf.bfloat16


def test_cli_writes_any_dataset_and_augmentation_keeps_accompaniment(tmp_path, capsys):
    from test_readers import dominant_hz, write_medleydb_track

    root = tmp_path / "medleydb"
    write_medleydb_track(root, "Trio_Allegro", "Trio", [("piano", 220), ("violin", 660), ("cello", 330)])
    assert tfrecords_main([str(root), "--out", str(tmp_path / "records"), "--sample-rate", str(SR),
                           "--segment-length", "1200", "--context", "100", "--shards", "1"]) == 0
    assert "8 records from 1 tracks" in capsys.readouterr().out
    dataset = make_dataset(tmp_path / "records" / "*.tfrecord.gz", input_length=600, output_length=400,
                           batch_size=4, remix_probability=0.0)
    inputs, targets = next(iter(dataset))
    mix, presence, targets = inputs["mix"].numpy()[..., 0], inputs["presence"].numpy(), targets.numpy()[..., 0]
    for example in range(4):
        assert set(np.flatnonzero(presence[example])) <= {0, 2}  # vn, vc: the piano has no label
        leftover = mix[example, 100:500] - targets[example].sum(axis=0)
        assert np.abs(leftover).max() > 0.05
        assert dominant_hz(leftover[None], SR) == pytest.approx(220, abs=SR / 400)
    assert tfrecords_main([str(root), "--out", str(tmp_path / "x"), "--format", "bach10"]) == 2
    assert "no Bach10 piece folders" in capsys.readouterr().err


def test_records_round_trip_bit_exact(tmp_path):
    import tensorflow as tf

    from data.tfrecords import parse

    root = tmp_path / "urmp"
    write_piece(root, 1, ("vn", "va", "vc"), seconds=0.4, seed=4)
    (track,) = read_urmp(root, SR)
    assert write_tfrecords([track], tmp_path / "records", segment_length=1200, context=100, nb_shards=1,
                           progress=False) == 4
    records = tf.data.TFRecordDataset(str(next((tmp_path / "records").glob("*.gz"))), compression_type="GZIP")
    expected = list(segments(track.mixture().mean(axis=0), track.targets().mean(axis=1), 1200, 100))
    for record, (start, window) in zip(records, expected, strict=True):
        parsed, labels = parse(record)
        np.testing.assert_array_equal(parsed.numpy(), window)
        np.testing.assert_array_equal(labels.numpy(), track.presence)
        example = tf.train.Example.FromString(record.numpy()).features.feature
        assert example["audio/sample_idx"].int64_list.value[0] == start
        assert example["audio/file_basename"].bytes_list.value[0].decode() == track.name
