"""Training the instrument tagger: its model, validation and card around the shared step loop (``audio.step_loop``).

A run folder holds ``config.yaml``, ``checkpoint.keras`` (model and optimizer, atomic),
``state.json``, ``metrics.jsonl``, and the deliverable: ``tagger.keras`` (the best weights by
validation F1) with its card ``tagger.json``. Batch ``s`` depends only on ``(seed, s)``, so a run
killed and started again continues with the batches, weights and optimizer state it would have
had; only the dropout masks (``model.dropout`` > 0) are drawn afresh after a resume.
"""
import json
import sys
from pathlib import Path

import numpy as np

from audio.backend import keras
from audio.tagger import WINDOW_S, build_tagger, predict_probabilities
from audio.step_loop import MetricsLog, averaged_weights, machine_description, open_run, optimizer_for, run_steps
from common.errors import ConfigError
from common.files import atomic_path, write_json
from common.scoring import precision_recall_f1
from fusion.instruments import CODES


def scores(labels, probabilities, threshold=0.5):
    """``{"f1": micro F1, "precision", "recall", "map": mean average precision}`` over examples and instruments.

    Args:
        labels: ``(n, K)`` 0/1 truth; probabilities: ``(n, K)`` in [0, 1].
    """
    predicted = probabilities >= threshold
    precision, recall, f1 = precision_recall_f1(float(np.sum(predicted & (labels > 0))), float(predicted.sum()),
                                                float(np.sum(labels > 0)))
    precisions = [average_precision(labels[:, k], probabilities[:, k]) for k in range(labels.shape[1]) if labels[:, k].any()]
    return {"f1": round(f1, 4), "precision": round(precision, 4), "recall": round(recall, 4),
            "map": round(float(np.mean(precisions)), 4) if precisions else None}


def average_precision(labels, probabilities):
    """Area under the precision-recall curve of one instrument (ranking of ``probabilities``)."""
    order = np.argsort(-probabilities)
    hits = labels[order] > 0
    precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(np.sum(precision_at * hits) / max(hits.sum(), 1))


def compile_tagger(config):
    """A new compiled tagger for ``config`` (sections ``model`` and ``training``)."""
    keras.utils.set_random_seed(config["training"].get("seed", 0))
    model = build_tagger(**config.get("model", {}))
    model.compile(optimizer=optimizer_for(config["training"]),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    return model


def restore(run_dir, config):
    """``(model, state)``: the run's checkpoint if there is one, else a new model at step 0.

    A new model starts from the weights of ``training.init_from`` (a tagger ``.keras`` of the same
    architecture) when the config names one.
    """
    checkpoint = run_dir / "checkpoint.keras"
    if checkpoint.exists():
        return keras.saving.load_model(checkpoint), json.loads((run_dir / "state.json").read_text())
    model = compile_tagger(config)
    init_from = config["training"].get("init_from")
    if init_from:
        if not Path(init_from).is_file():
            raise ConfigError(f"training.init_from: no such tagger file: {init_from}")
        source = keras.saving.load_model(init_from, compile=False)
        if [w.shape for w in source.get_weights()] != [w.shape for w in model.get_weights()]:
            raise ConfigError(f"training.init_from: {init_from} is another architecture than the config's model")
        model.set_weights(source.get_weights())
    return model, {"step": 0, "best_f1": None}


def save_tagger(model, run_dir, config, state, validation, data_description):
    """``tagger.keras`` (no optimizer state) and its card ``tagger.json``."""
    with atomic_path(run_dir / "tagger.keras") as tmp:
        model.save(tmp, include_optimizer=False)
    write_json(run_dir / "tagger.json", {
        "vocabulary": list(CODES), "sample_rate": 16000, "window_s": WINDOW_S, "model": config.get("model", {}),
        "training": config["training"], "data": data_description, "steps": state["step"], "validation": validation,
        "wall_time_s": round(state.get("wall_time_s", 0.0)), "machine": machine_description(),
        "command": " ".join(sys.argv)})


def train_tagger(config, run_dir, sampler, validation=None, data_description=None, max_steps=None, progress=True,
                 max_minutes=None):
    """Train (or resume) until ``training.steps``, ``max_steps`` more steps or ``max_minutes`` of wall time.

    Args:
        config: dict with ``model`` and ``training`` sections (see ``configs/tagger.yaml``).
        run_dir: the run folder; an existing checkpoint there is resumed.
        sampler: gives ``batch(step)`` -> ``(features, labels)`` (a :class:`data.tag_sampler.TagSampler`).
        validation: ``(features (n, nb_frames, 64), labels (n, K))`` or None.
        max_steps: stop after this many steps in this call.

    Returns:
        the state dict (``step``, ``best_f1``).
    """
    run_dir = open_run(run_dir, config)
    model, state = restore(run_dir, config)
    log = MetricsLog(run_dir, 16000)

    def validate(state):
        _validate(model, run_dir, config, state, validation, log, data_description)

    run_steps(model, sampler, run_dir, state, config["training"], log, validate if validation is not None else None,
              max_steps, progress=progress, desc="training tagger", max_minutes=max_minutes)
    if validation is None:
        with averaged_weights(model):
            save_tagger(model, run_dir, config, state, None, data_description)
    return state


def _validate(model, run_dir, config, state, validation, log, data_description):
    """Score the validation windows (the averaged weights with ``training.ema``); keep the best tagger by F1."""
    with averaged_weights(model):
        measured = scores(validation[1], predict_probabilities(model, validation[0]))
        log.scalars(state["step"], {f"validation_{name}": value for name, value in measured.items()})
        if state["best_f1"] is None or measured["f1"] > state["best_f1"]:
            state["best_f1"] = measured["f1"]
            save_tagger(model, run_dir, config, state, measured, data_description)
