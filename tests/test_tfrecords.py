import numpy as np
import pytest

from data.tfrecords import make_dataset, segments, write_tfrecords
from data.tracks import read_urmp
from test_training import write_piece

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
