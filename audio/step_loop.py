"""The step loop both trainings share (the separator's ``audio.train``, the tagger's ``audio.train_tagger``).

A run trains from the step in its ``state`` to ``training.steps``: each batch comes from
``sampler.batch(step)`` (built in a thread while the previous step runs), the loss and the
throughput go to ``metrics.jsonl`` every ``log_every`` steps, validation runs where fine-tuning
starts (step 0 with ``training.init_from``), every ``validate_every`` steps and at the last step,
and the model with its optimizer is checkpointed atomically every ``checkpoint_every`` steps.
Batch ``s`` depends only on ``(seed, s)`` and the optimizer state is in the checkpoint, so a run
killed and started again continues as if never stopped.
"""
import contextlib
import json
import os
import platform
import threading
import time
from pathlib import Path

import numpy as np
import yaml

from audio.backend import keras
from common.files import atomic_path, write_json


def open_run(run_dir, config):
    """The run folder as a Path, made if new, with the full configuration written to ``config.yaml``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return run_dir


def learning_rate(training):
    """The rate or schedule of ``training``: constant without ``decay``; ``decay: {rate, steps}``
    multiplies it by ``rate`` every ``steps`` (exponentially); ``decay: {kind: linear, steps}``
    brings it down in a straight line to 0 at ``steps`` (a cool-down, to end a run where the
    weights settle instead of where a noisy step left them)."""
    decay = training.get("decay")
    if not decay:
        return training["learning_rate"]
    if decay.get("kind", "exponential") == "linear":
        return keras.optimizers.schedules.PolynomialDecay(training["learning_rate"], decay["steps"], 0.0, power=1.0)
    return keras.optimizers.schedules.ExponentialDecay(training["learning_rate"], decay["steps"], decay["rate"])


def optimizer_for(training):
    """Adam at ``learning_rate(training)``. With ``training.ema`` (a momentum such as 0.999) it also
    keeps an exponential moving average of the weights (Keras' ``use_ema``): the average over the
    last ~1 / (1 - ema) steps, which validation scores and the saved model holds (``averaged_weights``)
    while training goes on from the raw weights."""
    if training.get("ema"):
        return keras.optimizers.Adam(learning_rate(training), use_ema=True, ema_momentum=training["ema"])
    return keras.optimizers.Adam(learning_rate(training))


@contextlib.contextmanager
def averaged_weights(model):
    """Inside the block the model's trainable weights are the optimizer's moving averages; after it,
    the raw weights training continues from. A no-op without ``training.ema`` or before the first step."""
    optimizer = model.optimizer
    if not (optimizer.use_ema and optimizer.built):
        yield model
        return
    raw = [np.array(variable) for variable in model.trainable_variables]  # copies: JAX steps donate buffers
    # Keras' own finalize_variable_values() assigns the averages' buffers themselves, which the next
    # JAX step then deletes; so the averages are read (privately) and copied
    for variable, average in zip(model.trainable_variables, optimizer._model_variables_moving_average):
        variable.assign(np.array(average))
    try:
        yield model
    finally:
        for variable, value in zip(model.trainable_variables, raw):
            variable.assign(value)


class Prefetcher:
    """Builds the next batch in a thread while the current step runs."""

    def __init__(self, sampler, first_step):
        self.sampler, self.step, self.result = sampler, first_step, None
        self._start()

    def _start(self):
        def work(step=self.step):
            self.result = self.sampler.batch(step)

        self.thread = threading.Thread(target=work, daemon=True)
        self.thread.start()

    def next(self):
        self.thread.join()
        batch = self.result
        self.step += 1
        self._start()
        return batch


class MetricsLog:
    """``metrics.jsonl`` always; TensorBoard scalars and audio when TensorFlow imports."""

    def __init__(self, run_dir, sample_rate):
        self.path, self.sample_rate = run_dir / "metrics.jsonl", sample_rate
        self.writer = None
        with contextlib.suppress(ImportError):
            import tensorboard  # noqa: F401  (tf.summary needs it)
            import tensorflow as tf

            self.tf = tf
            self.writer = tf.summary.create_file_writer(str(run_dir / "tensorboard"))

    def scalars(self, step, values):
        with open(self.path, "a") as handle:
            handle.write(json.dumps({"step": step, **values}) + "\n")
        if self.writer:
            with self.writer.as_default():
                for name, value in values.items():
                    self.tf.summary.scalar(name, value, step=step)

    def audio(self, step, name, audio):
        """``audio``: ``(nb_clips, nb_samples)`` in [-1, 1]."""
        if self.writer:
            with self.writer.as_default():
                clips = np.clip(audio, -1, 1)[..., None].astype(np.float32)
                self.tf.summary.audio(name, clips, self.sample_rate, step=step, max_outputs=len(clips))


def save_checkpoint(model, run_dir, state):
    """Checkpoint the model and optimizer, then the state; each file atomically."""
    with atomic_path(run_dir / "checkpoint.keras") as tmp:
        model.save(tmp)
    write_json(run_dir / "state.json", state)


def machine_description():
    """Where training ran: the backend and its devices, and the host's cores."""
    devices = keras.distribution.list_devices() if keras.backend.backend() == "jax" else []
    return {"backend": keras.backend.backend(), "devices": [str(d) for d in devices] or None,
            "cpu_cores": os.cpu_count(), "platform": f"{platform.system()} {platform.machine()}"}


def run_steps(model, sampler, run_dir, state, training, log, validate=None, max_steps=None, on_step=None,
              progress=True, desc="training", max_minutes=None):
    """Train ``model`` until ``training.steps``, ``state["stopped_early"]``, ``max_steps`` more steps
    or ``max_minutes`` of wall time in this call (then the step under way ends and is checkpointed).

    Args:
        model: a compiled Keras model; ``sampler.batch(step)`` gives its ``(inputs, targets)``.
        state: ``{"step": ..., ...}``, updated in place (``step``, ``wall_time_s`` summed over resumes)
            and saved with every checkpoint.
        log: a :class:`MetricsLog`.
        validate: ``validate(state)`` scores the model, keeps the best and may set ``stopped_early``.
        on_step: ``on_step(step, inputs)`` after every step (summaries).
    """
    from tqdm import tqdm

    deadline = None if max_minutes is None else time.monotonic() + 60 * max_minutes
    last_step = training["steps"] if max_steps is None else min(training["steps"], state["step"] + max_steps)
    batches, losses = Prefetcher(sampler, state["step"]), []
    # time-boxed: the deadline, not the configured steps, ends the run, so the bar counts minutes left
    bar = tqdm(total=None if deadline else last_step, initial=state["step"], unit="step", disable=not progress,
               desc=desc)
    if validate and state["step"] == 0 and training.get("init_from"):
        validate(state)  # where fine-tuning starts
    started = clock = time.monotonic()
    while state["step"] < last_step and not state.get("stopped_early"):
        if deadline is not None and time.monotonic() > deadline:
            last_step = state["step"]  # out of time: the checkpoint of this step is the last
            save_checkpoint(model, run_dir, state)
            break
        inputs, targets = batches.next()
        losses.append(float(model.train_on_batch(inputs, targets)))
        state["step"] += 1
        bar.update(1)
        step = state["step"]
        if step % training["log_every"] == 0 or step == last_step:
            elapsed = time.monotonic() - started
            log.scalars(step, {"loss": float(np.mean(losses)), "examples_per_s": len(losses) * sampler.batch_size / elapsed})
            bar.set_postfix(loss=f"{np.mean(losses):.3g}",
                            **({"minutes_left": f"{(deadline - time.monotonic()) / 60:.0f}"} if deadline else {}))
            losses, started = [], time.monotonic()
        if on_step:
            on_step(step, inputs)
        if validate and (step % training["validate_every"] == 0 or step == training["steps"]):
            validate(state)
            started = time.monotonic()  # throughput counts training steps only
        state["wall_time_s"] = state.get("wall_time_s", 0.0) + time.monotonic() - clock
        clock = time.monotonic()
        if step % training["checkpoint_every"] == 0 or step == last_step:
            save_checkpoint(model, run_dir, state)
    bar.close()
    return state
