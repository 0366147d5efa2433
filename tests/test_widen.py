"""Widening a trained Wave-U-Net into one with more filters keeps what it computes."""
import numpy as np
import pytest

from audio.widen import channel_map, widened_weights, widening_error
from model_helpers import tiny
from test_waveunet import random_inputs


def small_random_weights(model, seed):
    """Weights small enough that no tanh saturates, so equal outputs mean equal functions."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.1, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("conditioning, place, output_type", [
    ("film", "bottleneck", "direct"), ("concat", "input", "direct"), ("concat", "bottleneck", "difference"),
    ("multiply", "output", "direct"), ("none", "bottleneck", "difference")])
def test_the_widened_model_computes_what_the_narrow_one_does(conditioning, place, output_type):
    narrow = small_random_weights(tiny(conditioning=conditioning, condition_at=place, output_type=output_type), 1)
    wide = tiny(conditioning=conditioning, condition_at=place, output_type=output_type, nb_filters=7)
    inputs = random_inputs(narrow)
    wide.set_weights(widened_weights(narrow, wide))
    expected = narrow.predict_on_batch(inputs)
    assert 0.05 < np.abs(expected).max() < 0.9
    np.testing.assert_allclose(wide.predict_on_batch(inputs), expected, atol=1e-5)
    assert wide.count_params() > 2 * narrow.count_params()


def test_new_channels_start_random_on_their_input_side_and_silent_on_their_output_side():
    narrow = small_random_weights(tiny(), 2)
    wide = tiny(nb_filters=6)
    wide.set_weights(widened_weights(narrow, wide))
    down_0 = wide.get_layer("down_0").kernel.numpy()  # (width, 1, 6): channels 4 and 5 are new
    np.testing.assert_array_equal(down_0[:, :, :4], narrow.get_layer("down_0").kernel.numpy())
    assert np.abs(down_0[:, :, 4:]).min() > 0
    down_1 = wide.get_layer("down_1").kernel.numpy()  # (width, 6, 12)
    assert not down_1[:, 4:, :8].any() and np.abs(down_1[:, 4:, 8:]).sum() > 0
    # up_0 takes [up_1 (12 wide, 8 narrow), skip of down_0 (6 wide, 4 narrow)]
    np.testing.assert_array_equal(wide.get_layer("up_0").kernel.numpy()[:, 12:16, :4],
                                  narrow.get_layer("up_0").kernel.numpy()[:, 8:12, :])


@pytest.mark.parametrize("kind, nb_filters", [("film", 4), ("multiply", 6), ("add", 4)])
def test_a_model_grown_by_conditioning_places_starts_computing_what_the_trained_one_does(kind, nb_filters):
    trained = small_random_weights(tiny(conditioning=kind), 3)
    grown = tiny(conditioning=kind, condition_at="bottleneck+decoder+output", nb_filters=nb_filters)
    grown.set_weights(widened_weights(trained, grown))
    inputs = random_inputs(trained)
    np.testing.assert_allclose(grown.predict_on_batch(inputs), trained.predict_on_batch(inputs), atol=1e-5)
    small_random_weights(grown, 4)  # once trained, the new layers do change the output
    assert not np.allclose(grown.predict_on_batch(inputs), trained.predict_on_batch(inputs), atol=1e-3)


def test_channel_map_places_each_segment_after_the_wide_segments_before_it():
    np.testing.assert_array_equal(channel_map([2, 1], [3, 1]), [0, 1, 3])
    np.testing.assert_array_equal(channel_map([4], [6]), [0, 1, 2, 3])


def test_only_a_narrower_model_of_the_same_architecture_can_be_widened():
    narrow = tiny().settings
    assert widening_error(narrow, {**narrow, "nb_filters": 8}) is None
    assert widening_error(narrow, narrow) is None
    assert "more filters" in widening_error({**narrow, "nb_filters": 8}, narrow)
    assert widening_error(narrow, {**narrow, "nb_levels": 4}) == "differs in nb_levels"
    with pytest.raises(ValueError, match="differs in conditioning"):
        widened_weights(tiny(conditioning="add"), tiny(nb_filters=6))
    grown = {**narrow, "condition_at": "bottleneck+decoder"}
    assert widening_error(narrow, grown) is None
    assert "cannot grow" in widening_error(grown, narrow)
    concat = tiny(conditioning="concat", condition_at="input").settings
    assert "cannot grow" in widening_error(concat, {**concat, "condition_at": "input+bottleneck"})
