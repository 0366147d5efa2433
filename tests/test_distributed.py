"""Training on several devices: the global batch split over 2 virtual CPU devices gives one device's weights."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
THREE_STEPS = """
import sys
import numpy as np
from audio.backend import keras
from audio.train import build_model
from audio.waveunet import waveunet_lengths

config = {"model": {"output_length": 512, "nb_levels": 3, "nb_filters": 4, "kernel_size_down": 5,
                    "kernel_size_up": 3, "sample_rate": 8000},
          "training": {"batch_size": 4, "steps": 3, "learning_rate": 1e-3, "decay": None, "loss": "mse",
                       "precision": "float32", "seed": 0}}
model = build_model(config)
input_length, output_length = waveunet_lengths(512, 3, 5, 3)
rng = np.random.default_rng(0)
for step in range(3):
    inputs = {"mix": rng.normal(0, 0.1, (4, input_length, 1)).astype("float32"),
              "presence": (rng.random((4, 13)) > 0.5).astype("float32")}
    model.train_on_batch(inputs, rng.normal(0, 0.1, (4, 13, output_length, 1)).astype("float32"))
distribution = keras.distribution.distribution()
print("devices", len(keras.distribution.list_devices()), type(distribution).__name__ if distribution else None)
np.save(sys.argv[1], np.concatenate([np.ravel(w) for w in model.get_weights()]))
"""


def train_three_steps(tmp_path, name, nb_devices):
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": f"--xla_force_host_platform_device_count={nb_devices}",
           "PYTHONPATH": str(ROOT)}
    out = tmp_path / f"{name}.npy"
    process = subprocess.run([sys.executable, "-c", THREE_STEPS, str(out)], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-2000:]
    return np.load(out), process.stdout


def test_jax_data_parallel_on_two_devices_gives_the_weights_of_one(tmp_path):
    one, report_one = train_three_steps(tmp_path, "one", 1)
    two, report_two = train_three_steps(tmp_path, "two", 2)
    assert "devices 1 None" in report_one and "devices 2 DataParallel" in report_two
    assert np.abs(one).max() > 0.1
    np.testing.assert_allclose(two, one, atol=1e-6)
