import numpy as np
import pytest

from audio.apply import iter_separate, separate, window_starts
from fusion.instruments import presence_vector
from model_helpers import passthrough, randomize_weights, tiny

VN_VC = presence_vector(("vn", "vc"))


@pytest.fixture(scope="module")
def model():
    model = tiny()
    randomize_weights(model, seed=3)
    return model


def manual_window(model, mixture, start, presence):
    """The model run by hand on one window, zero padding built independently of audio.apply."""
    padded = np.pad(mixture, ((0, 0), (model.context, model.context + model.input_length)))
    window = padded[:, start:start + model.input_length].T[None]
    return model.predict_on_batch({"mix": window, "presence": presence[None]})[0]  # (K, O, C)


@pytest.mark.parametrize("nb_samples", [1, 100, 307, 308, 1000, 3070])
def test_window_starts_cover_the_track(nb_samples):
    starts = window_starts(nb_samples, 307)
    assert starts[0] == 0 and np.all(np.diff(starts) <= 307) and np.all(np.diff(starts) > 0)
    assert starts[-1] == max(nb_samples - 307, 0)


def test_short_input_equals_one_model_call(model):
    mixture = np.random.default_rng(1).uniform(-0.5, 0.5, (1, 200)).astype(np.float32)
    estimates = separate(model, mixture, VN_VC)
    assert estimates.shape == (13, 1, 200)
    expected = manual_window(model, mixture, 0, VN_VC)[:, :200].transpose(0, 2, 1)
    np.testing.assert_allclose(estimates, expected, atol=1e-5)  # one window among zeros: batched rounding


def test_every_model_call_has_one_batch_shape(model):
    """A short last batch is filled with zeros, so an XLA-compiled model compiles once."""
    shapes = []
    original = model.predict_on_batch

    def recording(inputs):
        shapes.append((inputs["mix"].shape, inputs["presence"].shape))
        return original(inputs)

    mixture = np.random.default_rng(4).uniform(-0.5, 0.5, (1, 5 * model.output_length + 7)).astype(np.float32)
    model.predict_on_batch = recording
    try:
        estimates = separate(model, mixture, VN_VC, batch_size=4)  # 6 windows: batches of 4 and 2
    finally:
        del model.predict_on_batch
    assert shapes == [((4, model.input_length, 1), (4, 13))] * 2
    last = manual_window(model, mixture, mixture.shape[1] - model.output_length, VN_VC).transpose(0, 2, 1)
    np.testing.assert_allclose(estimates[..., -7:], last[..., -7:], atol=1e-5)


def test_long_input_equals_window_by_window(model):
    nb_samples = 4 * model.output_length + 50
    mixture = np.random.default_rng(2).uniform(-0.5, 0.5, (1, nb_samples)).astype(np.float32)
    estimates = separate(model, mixture, VN_VC, batch_size=3)
    O = model.output_length
    for start in range(0, 4 * O, O):
        expected = manual_window(model, mixture, start, VN_VC).transpose(0, 2, 1)
        np.testing.assert_allclose(estimates[..., start:start + O], expected, atol=1e-5)
    last = manual_window(model, mixture, nb_samples - O, VN_VC).transpose(0, 2, 1)
    np.testing.assert_allclose(estimates[..., -50:], last[..., -50:], atol=1e-5)
    np.testing.assert_allclose(separate(model, mixture, VN_VC, batch_size=1), estimates, atol=1e-5)


def test_pieces_tile_the_track_in_order(model):
    nb_samples = 2 * model.output_length + 10
    mixture = np.zeros((1, nb_samples), dtype=np.float32)
    spans = [(start, piece.shape[-1]) for start, piece in iter_separate(model, mixture, VN_VC)]
    assert spans == [(0, model.output_length), (model.output_length, model.output_length),
                     (2 * model.output_length, 10)]


@pytest.mark.parametrize("position", [0, 5, 306, 307, 1000, 1499])
def test_a_click_comes_out_at_the_same_sample(position):
    model = passthrough(tiny(nb_channels=2))
    mixture = np.zeros((2, 1500), dtype=np.float32)
    mixture[1, position] = 0.5
    estimates = separate(model, mixture, VN_VC)
    for source in (0, 2):  # present: vn, vc
        assert np.argmax(np.abs(estimates[source, 1])) == position
        assert estimates[source, 1, position] == pytest.approx(np.tanh(0.5), abs=1e-6)
        assert np.count_nonzero(estimates[source, 0]) == 0
    assert np.count_nonzero(estimates[1]) == 0  # va absent: gated


def test_presence_may_change_from_window_to_window():
    model = passthrough(tiny())
    nb_samples = 3 * model.output_length
    mixture = np.full((1, nb_samples), 0.25, dtype=np.float32)
    seen_times = []

    def violin_then_cello(times_s):
        seen_times.extend(times_s)
        switch_s = 1.5 * model.output_length / 22050
        return np.stack([presence_vector(("vn",) if t < switch_s else ("vc",)) for t in times_s])

    estimates = separate(model, mixture, violin_then_cello)
    O = model.output_length
    assert np.allclose(seen_times, (np.arange(3) * O + O / 2) / 22050)
    assert np.all(estimates[0, 0, :O] > 0) and np.all(estimates[0, 0, O:] == 0)
    assert np.all(estimates[2, 0, :O] == 0) and np.all(estimates[2, 0, O:] > 0)


@pytest.mark.parametrize("nb_samples, block", [(150, 40), (307, 307), (1000, 1), (2500, 333), (3070, 5000),
                                                (2456, 97)])
def test_streamed_separation_equals_separation_in_memory(model, nb_samples, block):
    from audio.apply import iter_separate_stream

    mixture = np.random.default_rng(nb_samples).normal(0, 0.3, (1, nb_samples)).astype(np.float32)
    timeline = lambda times: np.where(times[:, None] < 0.02, VN_VC, presence_vector(("vc",)))  # noqa: E731
    expected = separate(model, mixture, timeline, batch_size=3)
    blocks = (mixture[:, i:i + block] for i in range(0, nb_samples, block))
    pieces = list(iter_separate_stream(model, blocks, timeline, batch_size=3))
    assert [start for start, _ in pieces] == sorted(start for start, _ in pieces) and pieces[0][0] == 0
    streamed = np.concatenate([piece for _, piece in pieces], axis=-1)
    assert streamed.shape == expected.shape
    np.testing.assert_allclose(streamed, expected, atol=1e-5)
