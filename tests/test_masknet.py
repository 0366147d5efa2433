import json

import numpy as np
import pytest

from audio.architectures import build_separator, check_model_settings, load_separator, window_lengths
from audio.masknet import MaskedInverse, MaskNet
from common.errors import ConfigError
from pipelines.train import main as train_main
from tests.sine_pieces import SR

TINY = {"architecture": "masknet", "output_length": 500, "context": 200, "fft_length": 128, "hop": 32,
        "hidden": 8, "nb_blocks": 2, "sample_rate": SR}


def inputs_for(model, presence, seed=0):
    rng = np.random.default_rng(seed)
    mix = rng.uniform(-0.5, 0.5, (len(presence), model.input_length, 1)).astype(np.float32)
    return {"mix": mix, "presence": np.asarray(presence, dtype=np.float32)}


def test_windows_are_whole_hops_and_the_config_knows_them_without_building():
    model = build_separator(TINY)
    assert (model.output_length, model.context) == (512, 224)  # 500 and 200 rounded up to hops of 32
    assert model.input_length == 512 + 2 * 224 and window_lengths(TINY) == (model.input_length, 512)
    presence = np.eye(13)[[0, 2]]
    assert model.predict_on_batch(inputs_for(model, presence)).shape == (2, 13, 512, 1)


def test_masks_of_one_give_back_the_middle_of_the_mix():
    model = MaskNet(**{k: v for k, v in TINY.items() if k != "architecture"})
    inverse = MaskedInverse(128, 32, model.input_length, model.context, model.output_length)
    mix = np.random.default_rng(1).normal(size=(1, model.input_length, 1)).astype(np.float32)
    real, imaginary = model.get_layer("stft")(mix)
    ones = np.ones((1, 3, *np.shape(real)[1:]), dtype=np.float32)
    estimates = np.asarray(inverse(ones, real, imaginary))
    assert estimates.shape == (1, 3, 512, 1)
    np.testing.assert_allclose(estimates[0, 1, :, 0], mix[0, model.context:model.context + 512, 0], atol=1e-4)


def test_absent_instruments_are_silent_and_presence_changes_the_others():
    model = build_separator(TINY)
    rng = np.random.default_rng(2)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    duet, trio = np.zeros(13), np.zeros(13)
    duet[[0, 2]], trio[[0, 2, 5]] = 1, 1
    batch = inputs_for(model, [duet, trio])
    batch["mix"][1] = batch["mix"][0]
    estimates = model.predict_on_batch(batch)
    assert np.all(estimates[0, duet == 0] == 0) and np.abs(estimates[0, 0]).max() > 0
    assert not np.allclose(estimates[0, 0], estimates[1, 0])  # FiLM: the violin depends on who else plays
    twin = build_separator({**TINY, "conditioning": "none"})
    twin.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in twin.get_weights()])
    alone = twin.predict_on_batch(batch)
    np.testing.assert_allclose(alone[0, 0], alone[1, 0], atol=1e-6)


def test_a_saved_model_loads_and_computes_the_same(tmp_path):
    model = build_separator(TINY)
    batch = inputs_for(model, np.eye(13)[[1]])
    model.save(tmp_path / "m.keras")
    loaded = load_separator(tmp_path / "m.keras")
    assert loaded.settings == model.settings and loaded.settings["architecture"] == "masknet"
    np.testing.assert_allclose(loaded.predict_on_batch(batch), model.predict_on_batch(batch), atol=1e-6)


def test_bad_settings_are_one_line_errors():
    with pytest.raises(ConfigError, match="model.architecture must be one of waveunet, masknet"):
        check_model_settings({"architecture": "transformer"}, "c.yaml")
    with pytest.raises(ConfigError, match="model.nb_levels is not a mask network setting"):
        check_model_settings({**TINY, "nb_levels": 4}, "c.yaml")
    with pytest.raises(ValueError, match="mono"):
        build_separator({**TINY, "nb_channels": 2})


def test_the_cli_trains_a_mask_network_that_the_separator_loads(dataset, tmp_path, capsys):  # noqa: F811
    from audio.separator import Separator

    run = tmp_path / "run"
    config = tmp_path / "masknet.yaml"
    config.write_text(json.dumps({
        "model": TINY, "data": {"train": [str(dataset)], "validation_fraction": 0.25},
        "training": {"batch_size": 2, "steps": 3, "learning_rate": 1e-3, "loss": "mse", "log_every": 1,
                     "checkpoint_every": 2, "validate_every": 2}}))
    assert train_main(["--config", str(config), "--run", str(run)]) == 0
    assert "step 3" in capsys.readouterr().out
    card = json.loads((run / "model.json").read_text())
    assert card["config"]["architecture"] == "masknet" and card["steps"] in (2, 3)
    separator = Separator(run / "model.keras")
    assert separator.sample_rate == SR and isinstance(separator.model, MaskNet)


def test_a_mask_network_cannot_start_from_a_wave_u_nets_weights(dataset, tmp_path, capsys):  # noqa: F811
    from tests.model_helpers import tiny

    tiny(sample_rate=SR).save(tmp_path / "waveunet.keras")
    config = tmp_path / "masknet.yaml"
    config.write_text(json.dumps({
        "model": TINY, "data": {"train": [str(dataset)]},
        "training": {"batch_size": 2, "steps": 1, "learning_rate": 1e-3, "loss": "mse",
                     "init_from": str(tmp_path / "waveunet.keras")}}))
    assert train_main(["--config", str(config), "--run", str(tmp_path / "run")]) == 2
    assert "is another architecture than the config's model (differs in architecture" in capsys.readouterr().err
