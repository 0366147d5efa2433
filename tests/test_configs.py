"""Every shipped separator config loads and passes the checks training makes, before any data or
model: a typo in a config kept for a GPU lease should fail here, not in the lent minutes."""
from pathlib import Path

import pytest

from audio.architectures import check_model_settings, window_lengths
from audio.losses import build_loss
from pipelines.train import data_workers, load_config, sampler_options

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SEPARATOR_CONFIGS = sorted(path for path in CONFIGS.rglob("*.yaml") if not path.name.startswith("tagger"))


@pytest.mark.parametrize("path", SEPARATOR_CONFIGS, ids=lambda path: str(path.relative_to(CONFIGS)))
def test_every_separator_config_passes_the_checks_training_makes(path):
    config = load_config(path)
    check_model_settings(config["model"], path)
    input_length, output_length = window_lengths(config["model"])
    assert input_length > output_length > 0
    build_loss(config["training"])
    sampler_options(config)
    data_workers(config["training"])
    assert config["data"].get("train") or config["data"].get("tfrecords")


def test_there_are_configs_to_check():
    assert len(SEPARATOR_CONFIGS) > 20 and CONFIGS / "default.yaml" in SEPARATOR_CONFIGS
