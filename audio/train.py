"""Training the Wave-U-Net: its model, validation and card around the shared step loop (``audio.step_loop``).

A run folder holds everything::

    RUN/config.yaml            the full configuration used
    RUN/checkpoint.keras       model + optimizer state, every ``checkpoint_every`` steps (atomic)
    RUN/state.json             step, best validation SDR, patience left
    RUN/metrics.jsonl          one JSON line per log interval / validation
    RUN/tensorboard/           scalars (and rare audio summaries) when TensorFlow is installed
    RUN/model.keras            the best weights by validation SDR (or the last, without validation)
    RUN/snapshots/             with ``training.snapshot_every: N``, the model (and card) every N steps,
                               to be scored afterwards on sets validation cannot hold (real recordings)
    RUN/model.json             the model card: config, vocabulary, data, scores, command
    RUN/data.json              what the card says of the training data, written at the start, so a
                               run killed before its first model still exports a full card

A run killed and started again continues the step count and the loss as if never stopped.
"""
import contextlib
import json
import sys
from pathlib import Path

import numpy as np

from audio.backend import keras
from audio.apply import separate
from audio.losses import build_loss
from audio.step_loop import MetricsLog, averaged_weights, machine_description, open_run, optimizer_for, run_steps
from audio.architectures import build_separator, load_separator
from audio.widen import widened_weights, widening_error
from common.errors import ConfigError
from common.files import atomic_path, write_json
from fusion.instruments import CODES


def distribution_scope():
    """A scope for building the model across the accelerators at hand, or a no-op with one device.

    TensorFlow: TPUStrategy where a TPU is, MirroredStrategy for several GPUs (or several logical
    CPU devices). JAX: Keras' distribution API (data parallel) over several devices.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with contextlib.suppress(ValueError, RuntimeError):
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            return tf.distribute.TPUStrategy(resolver).scope()
        gpus, cpus = tf.config.list_logical_devices("GPU"), tf.config.list_logical_devices("CPU")
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy().scope()
        if not gpus and len(cpus) > 1:  # logical CPU devices, as tests configure them
            return tf.distribute.MirroredStrategy([device.name for device in cpus]).scope()
    elif backend == "jax":
        devices = keras.distribution.list_devices()
        if len(devices) > 1:
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return contextlib.nullcontext()


def validation_sdr(model, tracks, batch_size):
    """Median over present stems of whole-track SDR (dB) on ``tracks``: a fast proxy for museval."""
    scores = []
    for track in tracks:
        mixture, targets = track.mixture_and_targets()
        mixture, targets = mixture.mean(axis=0, keepdims=True), targets.mean(axis=1)
        estimates = separate(model, mixture, track.presence, batch_size=batch_size)[:, 0]
        for index in np.flatnonzero(track.presence):
            error = np.sum((targets[index] - estimates[index]) ** 2) + 1e-9
            scores.append(10 * np.log10((np.sum(targets[index] ** 2) + 1e-9) / error))
    return float(np.median(scores))


def build_model(config):
    """The compiled model for ``config`` (sections ``model`` and ``training``)."""
    training = config["training"]
    keras.mixed_precision.set_global_policy(training.get("precision", "float32"))
    keras.utils.set_random_seed(training.get("seed", 0))  # the same initial weights every time
    with distribution_scope():
        model = build_separator(config["model"])
        model.compile(optimizer=optimizer_for(training), loss=build_loss(training))
    return model


def restore(run_dir, config):
    """``(model, state)``: from the run's checkpoint if there is one, else a new model at step 0.

    A new model starts from the weights of ``training.init_from`` (a ``.keras`` file of the same
    architecture, or of a narrower one: ``audio.widen``) when the config names one, else from a
    seeded random initialisation.
    """
    checkpoint = run_dir / "checkpoint.keras"
    model = build_model(config)
    if not checkpoint.exists():
        if config["training"].get("init_from"):
            load_initial_weights(model, config["training"]["init_from"])
        return model, {"step": 0, "best_sdr": None, "patience_left": config["training"].get("patience")}
    model.optimizer.build(model.trainable_variables)  # so its variables exist to be loaded
    model.load_weights(checkpoint)  # weights and optimizer variables (Adam moments, iteration count)
    return model, json.loads((run_dir / "state.json").read_text())


def load_initial_weights(model, path):
    """Copy the weights of the model file ``path`` into ``model``; a one-line error if they do not fit.

    A narrower model of the same architecture (fewer ``nb_filters``) is widened into ``model``
    (``audio.widen``): the new run starts from the function the narrower one computes.
    """
    if not Path(path).is_file():
        raise ConfigError(f"training.init_from: no such model file: {path}")
    source = load_separator(path)
    if source.settings == model.settings:
        model.set_weights(source.get_weights())
        return
    error = widening_error(source.settings, model.settings)
    if error:
        raise ConfigError(f"training.init_from: {path} is another architecture than the config's model ({error})")
    model.set_weights(widened_weights(source, model))


def save_model(model, run_dir, config, state, data_description, path=None):
    """The deliverable: ``model.keras`` (weights without the optimizer state) and its card ``model.json``
    in ``run_dir``, or ``path`` and the card beside it (same name, ``.json``)."""
    path = Path(path) if path else run_dir / "model.keras"
    inference_model = type(model).from_config(model.get_config())
    inference_model.set_weights(model.get_weights())
    with atomic_path(path) as tmp:
        inference_model.save(tmp)
    write_json(path.with_suffix(".json"), {
        "config": model.settings, "vocabulary": list(CODES), "sample_rate": model.settings["sample_rate"],
        "training": config["training"], "data": data_description, "steps": state["step"],
        "validation_sdr_db": state["best_sdr"], "wall_time_s": round(state.get("wall_time_s", 0.0)),
        "machine": machine_description(), "command": " ".join(sys.argv)})


def export_latest(config, run_dir, path):
    """Write the run's latest weights (their average with ``training.ema``) to ``path`` with a card.

    For a run stopped by hand: ``model.keras`` holds the best validation, this the last checkpoint.
    The card's ``steps`` is the checkpoint's step and ``validation_sdr_db`` the run's best so far.

    Raises:
        ConfigError: the run has no checkpoint, or ``path`` does not end in ``.keras``.
    """
    run_dir = Path(run_dir)
    if Path(path).suffix != ".keras":
        raise ConfigError(f"the exported model must be a .keras file, not {path}")
    if not (run_dir / "checkpoint.keras").exists():
        raise ConfigError(f"{run_dir} has no checkpoint to export")
    model, state = restore(run_dir, config)
    data_description = read_data_description(run_dir)
    with averaged_weights(model):
        save_model(model, run_dir, config, state, data_description, path)
    return state


def read_data_description(run_dir):
    """What the run's card says of its data: ``RUN/data.json``, else (runs of before it) ``RUN/model.json``'s."""
    if (run_dir / "data.json").exists():
        return json.loads((run_dir / "data.json").read_text())
    card = run_dir / "model.json"
    return json.loads(card.read_text())["data"] if card.exists() else None


def train(config, run_dir, sampler, validation_tracks=(), data_description=None, max_steps=None, progress=True,
          max_minutes=None):
    """Train (or resume) until ``training.steps``, early stopping, ``max_steps`` more steps or
    ``max_minutes`` of wall time.

    Args:
        config: dict with ``model`` and ``training`` sections (see ``configs/default.yaml``).
        run_dir: the run folder; an existing checkpoint there is resumed.
        sampler: gives ``batch(step)`` (a :class:`data.sampler.StemSampler` or compatible).
        validation_tracks: :class:`data.tracks.Track` list for validation SDR.
        data_description: what the card says of the training data.
        max_steps: stop after this many steps in this call (for tests and time-boxed runs).

    Returns:
        the state dict (``step``, ``best_sdr``, ``patience_left``, ``stopped_early``).
    """
    training = config["training"]
    run_dir = open_run(run_dir, config)
    if data_description is not None:
        write_json(run_dir / "data.json", data_description)
    model, state = restore(run_dir, config)
    log = MetricsLog(run_dir, model.settings["sample_rate"])

    def validate(state):
        _validate(model, run_dir, config, state, validation_tracks, log, data_description)

    def after_step(step, inputs):
        if training.get("audio_every") and step % training["audio_every"] == 0:
            estimates = np.asarray(model.predict_on_batch(inputs))
            log.audio(step, "mix", inputs["mix"][:1, :, 0])
            log.audio(step, "estimates", estimates[0, inputs["presence"][0] > 0, :, 0])
        if training.get("snapshot_every") and step % training["snapshot_every"] == 0:
            with averaged_weights(model):
                snapshot = run_dir / "snapshots" / f"step{step:06d}.keras"
                save_model(model, run_dir, config, state, data_description, snapshot)

    run_steps(model, sampler, run_dir, state, training, log, validate if validation_tracks else None, max_steps,
              after_step, progress, max_minutes=max_minutes)
    if not validation_tracks or not (run_dir / "model.keras").exists():
        with averaged_weights(model):
            save_model(model, run_dir, config, state, data_description)
    return state


def _validate(model, run_dir, config, state, tracks, log, data_description):
    """Score validation tracks (the averaged weights with ``training.ema``); keep the best model;
    count down patience for early stopping."""
    with averaged_weights(model):
        sdr = validation_sdr(model, tracks, config["training"]["batch_size"])
        log.scalars(state["step"], {"validation_sdr": sdr})
        if state["best_sdr"] is None or sdr > state["best_sdr"]:
            state["best_sdr"] = sdr
            state["patience_left"] = config["training"].get("patience")
            save_model(model, run_dir, config, state, data_description)
        elif state["patience_left"] is not None:
            state["patience_left"] -= 1
            state["stopped_early"] = state["patience_left"] <= 0
