"""The separator's long windows: the same network on longer windows where presence is one vector."""
import numpy as np

from audio.architectures import with_output_length
from audio.separator import LONG_WINDOW, Separator
from fusion.instruments import presence_vector
from model_helpers import passthrough, randomize_weights, tiny

VN_VC = presence_vector(("vn", "vc"))


def test_a_longer_window_computes_what_the_training_window_does():
    model = randomize_weights(tiny(), seed=5)
    longer = with_output_length(model, 4 * model.output_length)
    assert longer.output_length >= 4 * model.output_length and longer.count_params() == model.count_params()
    mix = np.random.default_rng(0).uniform(-0.5, 0.5, (1, longer.input_length, 1)).astype(np.float32)
    presence = VN_VC[None].astype(np.float32)
    long_output = longer.predict_on_batch({"mix": mix, "presence": presence})
    short_output = model.predict_on_batch({"mix": mix[:, :model.input_length], "presence": presence})
    np.testing.assert_allclose(long_output[:, :, :model.output_length], short_output, atol=1e-5)
    assert with_output_length(model, model.output_length) is model


def test_one_vector_runs_long_windows_and_a_timeline_the_training_ones(tmp_path):
    path = tmp_path / "tiny.keras"
    randomize_weights(tiny(), seed=6).save(path)
    separator = Separator(path, batch_size=8)
    long_model, long_batch = separator.network_for(VN_VC)
    assert long_model.output_length >= LONG_WINDOW and long_batch == 1
    assert separator.network_for(lambda times: np.tile(VN_VC, (len(times), 1))) == (separator.model, 8)


def test_long_windows_tile_a_track_exactly(tmp_path):
    """A pass-through network (stems = tanh(mix)) over 2.3 long windows gives tanh(mix) at every sample."""
    path = tmp_path / "passthrough.keras"
    passthrough(tiny()).save(path)
    separator = Separator(path, level_match=False)
    mixture = np.random.default_rng(7).uniform(-0.5, 0.5, (1, int(2.3 * LONG_WINDOW))).astype(np.float32)
    stems = separator.separate(mixture, 22050, VN_VC)
    assert sorted(stems) == ["vc", "vn"]
    for stem in stems.values():
        np.testing.assert_allclose(stem, np.tanh(mixture), atol=1e-5)
