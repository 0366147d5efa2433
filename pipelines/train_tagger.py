"""``python -m pipelines.train_tagger --config configs/tagger.yaml``: train the instrument tagger.

``data.train`` lists rendered ensembles (URMP layout, as for ``pipelines.train``), held out by
group for validation; ``data.accompaniment`` lists folders of clips outside the vocabulary
(``python -m data.accompaniment``), a tenth of them kept for validation; ``data.phrases`` lists
sample libraries whose recorded phrases (``data.samples.recorded_phrases``) join a share
``data.phrase_probability`` of the examples, a tenth of them kept for validation; ``data.notes`` lists
sample libraries whose single recorded notes (``data.samples.recorded_notes``) play lines of one
instrument in a share ``data.note_probability`` (default 0.2), a tenth kept likewise. Killing and re-running
the same command resumes exactly. The run folder's ``tagger.keras`` and ``tagger.json`` are the
model to ship (``models/``).
"""
import argparse
import sys
from pathlib import Path

import numpy as np

from common.cli import run_cli
from common.errors import ConfigError
from pipelines.train import accompaniment_files, add_run_arguments, load_run_config, read_training_tracks


# data key: the file names its recordings have
RECORDING_NAMES = {"phrases": "<instrument>_<pitch>_phrase_...",
                   "notes": "<instrument>_<pitch>_<duration>_<dynamic>_<articulation>"}


def library_recordings(kind, folders):
    """``[(code, path)]`` of the recorded ``kind`` (``"phrases"`` or ``"notes"``) under each of ``folders``;
    a folder without any is a one-line error."""
    from data.samples import recorded_notes, recorded_phrases

    lister = {"phrases": recorded_phrases, "notes": recorded_notes}[kind]
    found = []
    for folder in folders:
        recordings = lister(folder)
        if not recordings:
            raise ConfigError(f"data.{kind}: no recorded {kind} ({RECORDING_NAMES[kind]}) under {folder}")
        found += recordings
    return found


def hold_out_tenth(items):
    """``(train, held_out)``: every tenth of ``items`` (from the first) held out for validation, the rest to train."""
    return [item for i, item in enumerate(items) if i % 10], items[::10]


def make_samplers(config):
    """``(training TagSampler, validation (features, labels), data description)``."""
    from audio.features import SAMPLE_RATE
    from data.sampler import read_clips
    from data.tag_sampler import TagSampler, read_notes, read_phrases
    from data.tracks import validation_split

    data, training = config["data"], config["training"]
    tracks = read_training_tracks(data["train"], 16000)
    train_tracks, validation_tracks = validation_split(tracks, data.get("validation_fraction", 0.05))
    train_files, held_out = hold_out_tenth(accompaniment_files(data.get("accompaniment", [])))
    phrases = library_recordings("phrases", data.get("phrases", []))
    train_phrases, held_out_phrases = hold_out_tenth(phrases)
    probability = data.get("phrase_probability", 0.3 if phrases else 0.0)
    notes = library_recordings("notes", data.get("notes", []))
    train_notes, held_out_notes = hold_out_tenth(notes)
    note_probability = data.get("note_probability", 0.2 if notes else 0.0)
    sampler = TagSampler(train_tracks, read_clips(train_files, SAMPLE_RATE, progress=True), training["batch_size"],
                         seed=training.get("seed", 0), phrases=read_phrases(train_phrases, progress=True),
                         phrase_probability=probability, notes=read_notes(train_notes, progress=True),
                         note_probability=note_probability, progress=True)
    validation_sampler = TagSampler(validation_tracks, read_clips(held_out, SAMPLE_RATE), training["batch_size"],
                                    seed=10_000, phrases=read_phrases(held_out_phrases), phrase_probability=probability,
                                    notes=read_notes(held_out_notes), note_probability=note_probability)
    batches = [validation_sampler.batch(step) for step in range(data.get("validation_batches", 24))]
    validation = (np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]))
    description = {"folders": data["train"], "accompaniment": data.get("accompaniment", []),
                   "train_pieces": len(train_tracks), "validation_pieces": [t.name for t in validation_tracks],
                   "accompaniment_clips": len(train_files), "phrases": data.get("phrases", []),
                   "train_phrases": len(train_phrases), "phrase_probability": probability,
                   "notes": data.get("notes", []), "train_notes": len(train_notes), "note_probability": note_probability,
                   "validation_examples": len(validation[1])}
    return sampler, validation, description


def get_parser():
    parser = argparse.ArgumentParser(prog="python -m pipelines.train_tagger", description=__doc__.splitlines()[0])
    return add_run_arguments(parser, "YAML config (see configs/tagger.yaml)")


def _run(args):
    config = load_run_config(args, ("data", "training"))
    from audio.train_tagger import train_tagger

    sampler, validation, description = make_samplers(config)
    run_dir = args.run or Path("runs") / args.config.stem
    state = train_tagger(config, run_dir, sampler, validation, description, max_steps=args.max_steps,
                         max_minutes=args.max_minutes)
    print(f"{run_dir}: step {state['step']}, best validation F1 {state['best_f1']}")
    return 0


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
