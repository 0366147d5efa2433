"""``python -m pipelines.train --config FILE``: train the separator (a Wave-U-Net, or ``model.architecture``) from a YAML config.

A config may start with ``base: other.yaml`` (relative to itself) and override sections of
it; ``--set training.steps=100`` overrides one value. ``data.train`` lists dataset folders, each
a path (layout detected) or ``{root: PATH, format: urmp|musdb|medleydb|bach10}``, read through the
NumPy sampler, so training runs under the TensorFlow and the JAX backends alike
(``KERAS_BACKEND=jax``), and killing and re-running the same command resumes exactly;
``data.validation`` folders, when given, are scored instead of the held-out scores;
``data.accompaniment`` folders of clips outside the vocabulary (``python -m data.accompaniment``)
join ``data.accompaniment_probability`` of the mixes, with no target, at ``data.accompaniment_db``
(``[low, high]`` dB re the ensemble; default ``[-12, 0]``);
``data.false_presence_probability`` names absent instruments in that share of the examples (their
targets silent: a tagger's false alarms), drawn from ``data.false_presence_pool``: ``any`` absent
instrument (default) or one of a playing instrument's ``family``. With
``data.tfrecords: "DIR/*.tfrecord.gz"`` (made by ``python -m data.tfrecords``) batches come from
the tf.data pipeline instead (TensorFlow needed; a resumed run reshuffles rather than replaying),
and validation reads the ``data.validation`` folders. ``--export MODEL.keras`` trains nothing: it
writes the run's latest checkpoint (for a run stopped by hand; ``RUN/model.keras`` is its best
validation) as a model file with its card.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import yaml

from common.cli import add_debug_flag, run_cli
from common.errors import ConfigError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


def merge(base, override):
    """``base`` updated by ``override``, recursively for nested mappings."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def load_config(path, overrides=()):
    """Read a YAML config with its ``base:`` chain and ``key.path=value`` overrides."""
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"no such config: {path}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"config {path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"config {path} must be a mapping")
    if "base" in config:
        config = merge(load_config(path.parent / config.pop("base")), config)
    for override in overrides:
        key, _, value = override.partition("=")
        if not value:
            raise ConfigError(f"--set takes key.path=value, got {override!r}")
        section = config
        *parents, leaf = key.split(".")
        for parent in parents:
            section = section.setdefault(parent, {})
        section[leaf] = yaml.safe_load(value)
    return config


def read_training_tracks(entries, sample_rate):
    """Tracks of every ``data.train`` entry: a folder path, or ``{root: PATH, format: NAME}``."""
    from data.readers import read_dataset

    tracks = []
    for entry in entries:
        if isinstance(entry, dict) and "root" not in entry:
            raise ConfigError(f"data.train entry {entry} needs a root")
        root, dataset_format = (entry["root"], entry.get("format", "auto")) if isinstance(entry, dict) else (entry, "auto")
        tracks += read_dataset(root, dataset_format, sample_rate)
    return tracks


def accompaniment_files(folders):
    """Audio files under the folders, sorted; a folder without any is a one-line error."""
    files = []
    for folder in map(Path, folders):
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        if not found:
            raise ConfigError(f"data.accompaniment: no audio files under {folder} "
                              "(make them with python -m data.accompaniment)")
        files += found
    return files


def numpy_batches(config, input_length, output_length):
    """``(StemSampler, validation tracks, description)`` from the ``data.train`` folders.

    Validation takes ~``data.validation_fraction`` of the scores out of training (by hash); with
    ``data.validation`` folders (e.g. renders with a SoundFont training never uses), those are
    scored instead, and the hash split still keeps its share out of training.
    """
    from data.sampler import StemSampler, read_clips
    from data.tracks import validation_split

    data, training = config["data"], config["training"]
    workers, options = data_workers(training), sampler_options(config)
    sample_rate = options["sample_rate"]
    tracks = read_training_tracks(data["train"], sample_rate)
    fraction = data.get("validation_fraction", 0.05)  # 0: every piece trains (choose snapshots afterwards)
    train_tracks, validation_tracks = validation_split(tracks, fraction) if fraction else (tracks, [])
    if data.get("validation"):
        validation_tracks = read_training_tracks(data["validation"], sample_rate)
    clips = read_clips(accompaniment_files(data.get("accompaniment", [])), sample_rate, progress=True)
    sampler = StemSampler(train_tracks, input_length, output_length, training["batch_size"], progress=True,
                          accompaniment=clips, **options)
    description = {"folders": data["train"], "train_pieces": len(train_tracks),
                   "validation_pieces": [t.name for t in validation_tracks],
                   "input_level_db": training_level_db(sampler)}
    if sampler.clips:
        description.update(accompaniment=data["accompaniment"], accompaniment_clips=len(sampler.clips))
    if workers:
        from data.batch_workers import ParallelBatches

        sampler = ParallelBatches(sampler, workers)
    return sampler, validation_tracks, description


def training_level_db(sampler, nb_examples=256):
    """The median level in dBFS of the sampler's first ~``nb_examples`` mixes, for the model card:
    :class:`audio.separator.Separator` scales every input to it (``audio.level``)."""
    from audio.level import examples_level_db

    nb_batches = -(-nb_examples // sampler.batch_size)
    return examples_level_db(np.concatenate([sampler.batch(step)[0]["mix"][..., 0] for step in range(nb_batches)]))


def sampler_options(config):
    """The :class:`data.sampler.StemSampler` keywords ``config`` asks for: seed, remixing, gains,
    equaliser, repitching, accompaniment share and level, false presence, and sample rate; a one-line
    error for a bad value."""
    from data.sampler import FALSE_PRESENCE_POOLS

    data, training = config["data"], config["training"]
    probability = augmentation_amount(data, "accompaniment_probability", 0.3 if data.get("accompaniment") else 0.0)
    if probability > 1:
        raise ConfigError(f"data.accompaniment_probability must be between 0 and 1, got {probability:g}")
    false_presence = augmentation_amount(data, "false_presence_probability")
    if false_presence >= 1:
        raise ConfigError(f"data.false_presence_probability must be at least 0 and below 1, got {false_presence:g}")
    false_presence_pool = data.get("false_presence_pool", "any")
    if false_presence_pool not in FALSE_PRESENCE_POOLS:
        raise ConfigError(f"data.false_presence_pool must be one of {', '.join(FALSE_PRESENCE_POOLS)}, "
                          f"got {false_presence_pool!r}")
    return {"seed": training.get("seed", 0), "remix_probability": data.get("remix_probability", 0.5),
            "gain_db": stem_gain_range(data), "eq_db": augmentation_amount(data, "eq_db"),
            "repitch_semitones": augmentation_amount(data, "repitch_semitones"),
            "accompaniment_probability": probability,
            "accompaniment_db": db_range(data, "accompaniment_db", (-12.0, 0.0)),
            "false_presence_probability": false_presence, "false_presence_pool": false_presence_pool,
            "sample_rate": config["model"].get("sample_rate", 22050)}


def data_workers(training):
    """``training.data_workers`` (0 when absent): processes building batches ahead of the model."""
    value = training.get("data_workers", 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"training.data_workers must be a whole number >= 0, got {value!r}")
    return value


def augmentation_amount(data, key, default=0.0):
    """``data[key]`` (``default`` when absent) as a float, or a one-line error unless it is a number >= 0."""
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"data.{key} must be a number >= 0, got {value!r}")
    return float(value)


def stem_gain_range(data):
    """``(low, high)`` dB of the random gain per training stem from ``data.gain_db``; default (-6, 3)."""
    return db_range(data, "gain_db", (-6.0, 3.0))


def db_range(data, key, default):
    """``data[key]`` (``default`` when absent) as ``(low, high)`` floats, or a one-line error."""
    value = data.get(key, default)
    numbers = isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(number, (int, float)) and not isinstance(number, bool) for number in value)
    if not (numbers and value[0] <= value[1]):
        raise ConfigError(f"data.{key} must be [low, high] in dB with low <= high, got {value!r}")
    return float(value[0]), float(value[1])


def tfrecord_batches(config, input_length, output_length):
    """``(TFRecordBatches, validation tracks, description)`` from ``data.tfrecords`` (a file pattern).

    Validation reads the folders of ``data.validation`` (none: no validation, no early stopping).
    Needs TensorFlow; works under the JAX backend too.
    """
    for key in ("eq_db", "repitch_semitones", "accompaniment", "false_presence_probability"):
        if config["data"].get(key):
            raise ConfigError(f"data.{key} is applied by the NumPy sampler only: train from data.train folders, "
                              f"or drop data.{key}")
    try:
        from data.tfrecords import TFRecordBatches
        import tensorflow  # noqa: F401
    except ImportError:
        raise ConfigError("data.tfrecords needs TensorFlow (pip install -e '.[tf]'); "
                          "or train from data.train folders with the NumPy sampler") from None
    data, training = config["data"], config["training"]
    batches = TFRecordBatches(data["tfrecords"], input_length, output_length, training["batch_size"],
                              seed=training.get("seed", 0), remix_probability=data.get("remix_probability", 0.5),
                              gain_db=stem_gain_range(data))
    validation_tracks = read_training_tracks(data.get("validation", []), config["model"].get("sample_rate", 22050))
    description = {"tfrecords": data["tfrecords"], "validation_pieces": [t.name for t in validation_tracks]}
    return batches, validation_tracks, description


def add_run_arguments(parser, config_help):
    """The options every training CLI takes: ``--config``, ``--run``, ``--set``, ``--max-steps``,
    ``--max-minutes``, ``--debug``."""
    parser.add_argument("--config", required=True, type=Path, help=config_help)
    parser.add_argument("--run", type=Path, help="run folder (default: runs/<config name>)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
    parser.add_argument("--max-steps", type=int, help="stop after this many steps in this call")
    parser.add_argument("--max-minutes", type=positive_minutes, help="stop (checkpointed) after this much wall "
                        "time in this call, e.g. on a GPU machine lent for minutes")
    return add_debug_flag(parser)


def positive_minutes(text):
    """``--max-minutes``' value: a number > 0 (argparse turns a ValueError into its one-line error)."""
    minutes = float(text)
    if not minutes > 0:
        raise ValueError(text)
    return minutes


def load_run_config(args, sections):
    """``args.config`` with ``args.set`` applied; a one-line error when one of ``sections`` is missing."""
    config = load_config(args.config, args.set)
    for section in sections:
        if section not in config:
            raise ConfigError(f"config {args.config} has no {section!r} section")
    return config


def get_parser():
    parser = argparse.ArgumentParser(prog="python -m pipelines.train", description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, metavar="MODEL.keras",
                        help="do not train: write the run's latest checkpoint (its weight average with "
                             "training.ema) to this model file, with its card beside it")
    return add_run_arguments(parser, "YAML config (see configs/)")


def _run(args):
    config = load_run_config(args, ("model", "data", "training"))
    from audio.architectures import check_model_settings, window_lengths
    from audio.train import train

    model_config = config["model"]
    check_model_settings(model_config, args.config)
    run_dir = args.run or Path("runs") / args.config.stem
    if args.export:
        from audio.train import export_latest

        state = export_latest(config, run_dir, args.export)
        print(f"{args.export}: the weights of {run_dir} at step {state['step']}")
        return 0
    lengths = window_lengths(model_config)
    make_batches = tfrecord_batches if "tfrecords" in config["data"] else numpy_batches
    batches, validation_tracks, description = make_batches(config, *lengths)
    try:
        state = train(config, run_dir, batches, validation_tracks, description, max_steps=args.max_steps,
                      max_minutes=args.max_minutes)
    finally:
        if hasattr(batches, "close"):
            batches.close()
    print(f"{run_dir}: step {state['step']}, best validation SDR {state['best_sdr']}")
    return 0


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
