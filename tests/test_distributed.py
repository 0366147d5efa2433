"""Training on several devices: the global batch split over 2 virtual CPU devices gives one device's weights.

JAX: ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` and Keras' DataParallel; TensorFlow: two
logical CPU devices and MirroredStrategy, both chosen by ``audio.train.distribution_scope``.
"""
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
from audio.backend import keras  # triton, then the backend
if keras.backend.backend() == "tensorflow" and int(sys.argv[2]) > 1:  # before TensorFlow sets up its devices
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(sys.argv[2]))
from audio.train import build_model
from audio.waveunet import waveunet_lengths

config = {"model": {"output_length": 512, "nb_levels": 3, "nb_filters": 4, "kernel_size_down": 5,
                    "kernel_size_up": 3, "sample_rate": 8000},
          "training": {"batch_size": 4, "steps": 3, "learning_rate": 1e-3, "decay": None, "loss": "mse",
                       "precision": "float32", "seed": 0}}
model = build_model(config)
input_length, output_length = waveunet_lengths(512, 3, 5, 3)
rng = np.random.default_rng(0)
before = np.concatenate([np.ravel(w) for w in model.get_weights()])
for step in range(3):
    inputs = {"mix": rng.normal(0, 0.1, (4, input_length, 1)).astype("float32"),
              "presence": (rng.random((4, 13)) > 0.5).astype("float32")}
    model.train_on_batch(inputs, rng.normal(0, 0.1, (4, 13, output_length, 1)).astype("float32"))
if keras.backend.backend() == "tensorflow":
    print("replicas", model.distribute_strategy.num_replicas_in_sync, type(model.distribute_strategy).__name__)
else:
    distribution = keras.distribution.distribution()
    print("replicas", len(keras.distribution.list_devices()), type(distribution).__name__ if distribution else None)
after = np.concatenate([np.ravel(w) for w in model.get_weights()])
print("moved", float(np.abs(after - before).max()))
np.save(sys.argv[1], after)
"""


def train_three_steps(tmp_path, backend, nb_devices):
    pytest.importorskip(backend)
    env = {**os.environ, "KERAS_BACKEND": backend, "XLA_FLAGS": f"--xla_force_host_platform_device_count={nb_devices}",
           "PYTHONPATH": str(ROOT)}
    out = tmp_path / f"{backend}-{nb_devices}.npy"
    process = subprocess.run([sys.executable, "-c", THREE_STEPS, str(out), str(nb_devices)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-2000:]
    return np.load(out), process.stdout


@pytest.mark.parametrize("backend, strategy", [("jax", "DataParallel"), ("tensorflow", "MirroredStrategy")])
def test_data_parallel_on_two_devices_gives_the_weights_of_one(tmp_path, backend, strategy):
    one, report_one = train_three_steps(tmp_path, backend, 1)
    two, report_two = train_three_steps(tmp_path, backend, 2)
    assert "replicas 1" in report_one and f"replicas 2 {strategy}" in report_two
    assert float(report_two.split("moved ")[1].split()[0]) > 1e-4  # the steps did train
    np.testing.assert_allclose(two, one, atol=1e-6)
