"""Dataset readers: each returns :class:`data.tracks.Track` lists, sorted by name.

``python -m data.readers ROOT [--format F]`` lists what a reader sees (no audio is decoded): each
track's parts, which of them are outside the vocabulary, its group and its validation side.

=============  ========================================================================  =============
format         layout                                                                    group
=============  ========================================================================  =============
``urmp``       ``NN_Title_codes/AuMix_*.wav`` + ``AuSep_i_code_NN_Title.wav`` (real      score (ours),
               URMP, or ours from ``python -m data.synth``)                              else piece
``musdb``      MUSDB18 through the ``musdb`` package: ``train/`` and ``test/`` of        track
               ``*.stem.mp4`` (or of WAV folders with ``is_wav``); a folder of stem
               files without them reads as one subset
``medleydb``   ``*_METADATA.yaml`` anywhere under the root, stems in its ``stem_dir``    artist
``bach10``     ``NN-Title/NN-Title.wav`` + ``NN-Title-violin.wav`` (clarinet, saxphone,  piece
               bassoon)
=============  ========================================================================  =============

Instrument names become vocabulary codes through the maps in :mod:`fusion.instruments`; other
sources (MUSDB's four stems, MedleyDB's piano or drums) keep their own names as labels.
"""
import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

import yaml

from common.cli import add_debug_flag, print_table, run_cli
from common.errors import AvsepError, InvalidNameError, UnknownInstrumentError
from data.tracks import Stem, Track, validation_split
from fusion.instruments import BACH10_CLASS_MAP, MEDLEYDB_CLASS_MAP, parse_urmp_name

FORMATS = ("urmp", "musdb", "medleydb", "bach10")
_AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus")
_BACH10_FOLDER = re.compile(r"^\d\d-\w+$")


def read_dataset(root, dataset_format="auto", sample_rate=None):
    """Tracks of the dataset under ``root``, in ``dataset_format`` or the one its layout shows."""
    root = _existing_folder(root)
    dataset_format = detect_format(root) if dataset_format == "auto" else dataset_format
    readers = {"urmp": read_urmp, "musdb": read_musdb, "medleydb": read_medleydb, "bach10": read_bach10}
    if dataset_format not in readers:
        raise AvsepError(f"unknown dataset format {dataset_format!r}: use auto or one of {', '.join(FORMATS)}")
    return readers[dataset_format](root, sample_rate=sample_rate)


def detect_format(root):
    """The format whose layout ``root`` has (see the module's table); URMP when none other fits."""
    root = Path(root)
    if next(root.glob("*.stem.mp4"), None) or any(next(root.glob(f"{subset}/*.stem.mp4"), None)
                                                  for subset in ("train", "test")):
        return "musdb"
    if next(root.rglob("*_METADATA.yaml"), None):
        return "medleydb"
    if any(_BACH10_FOLDER.match(p.name) and (p / f"{p.name}.wav").is_file() for p in root.iterdir()):
        return "bach10"
    return "urmp"


def read_urmp(root, sample_rate=None):
    """Tracks of every piece folder (``NN_Title_codes``) under ``root``.

    Folders that are not URMP pieces are skipped; a piece folder without stems is an error.
    Our synthetic pieces are grouped by score (their ``meta.json``), real ones by piece.
    """
    root = _existing_folder(root)
    tracks = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            piece = parse_urmp_name(folder.name).piece
        except (InvalidNameError, UnknownInstrumentError):
            continue
        named = [(parse_urmp_name(p.name), p) for p in folder.glob("AuSep_*") if p.suffix.lower() in _AUDIO_SUFFIXES]
        parts = [Stem(name.code, path) for name, path in sorted(named, key=lambda item: item[0].part)]
        if not parts:
            raise AvsepError(f"{folder} has no AuSep_ stems")
        mix = next(folder.glob("AuMix_*.wav"), None)
        tracks.append(Track(folder.name, parts, Stem("mix", mix) if mix else None, sample_rate,
                            group=_synthetic_score(folder) or piece))
    if not tracks:
        raise AvsepError(f"no URMP piece folders (like 01_Jupiter_vn_vc) in {root}")
    return tracks


def _synthetic_score(folder):
    """``"score:<corpus path>"`` for a piece made by ``data.synth``, else None."""
    meta = folder / "meta.json"
    if not meta.is_file():
        return None
    score = json.loads(meta.read_text()).get("score")
    return f"score:{score}" if score else None


def read_musdb(root, sample_rate=None, subsets=("train", "test"), split=None, is_wav=False):
    """MUSDB18 tracks through the ``musdb`` package (its subsets, validation split and stem ids).

    Args:
        root: the folder holding ``train/`` and ``test/``, or a folder of ``.stem.mp4`` files.
        subsets: which of ``train``/``test`` to read.
        split: with ``subsets=("train",)``, ``"train"`` or ``"valid"`` (musdb's validation tracks).
        is_wav: the decoded layout (a folder per track with ``mixture.wav``, ``vocals.wav``...).

    Every part (drums, bass, other, vocals) is outside our vocabulary: the tracks have no targets
    for our model and serve as accompaniment or for evaluating those four stems.
    """
    import musdb

    root = _existing_folder(root)
    has_subsets = any((root / subset).is_dir() for subset in ("train", "test"))
    if not has_subsets and split:
        raise AvsepError(f"{root} has no train/ folder: musdb's split {split!r} needs one")
    db_root, subsets = (root, list(subsets)) if has_subsets else (root.parent, [root.name])
    try:
        database = musdb.DB(root=str(db_root), subsets=subsets, split=split, is_wav=is_wav)
    except (OSError, RuntimeError, ValueError) as error:
        raise AvsepError(f"cannot read MUSDB18 at {root}: {str(error).splitlines()[0]}") from None
    if not database.tracks:
        raise AvsepError(f"no MUSDB18 tracks ({'WAV folders' if is_wav else '.stem.mp4 files'}) in {root}")
    tracks = []
    for entry in database.tracks:
        parts = [Stem(name, Path(source.path), 0 if is_wav else source.stem_id)
                 for name, source in sorted(entry.sources.items(), key=lambda item: item[1].stem_id)]
        mix = Stem("mixture", Path(entry.path), 0 if is_wav else entry.stem_id)
        tracks.append(Track(entry.name, parts, mix, sample_rate, dataset="musdb"))
    return sorted(tracks, key=lambda track: track.name)


def read_medleydb(root, sample_rate=None, include_bleed=False):
    """MedleyDB tracks from their metadata YAML files (anywhere under ``root``).

    A stem's instrument goes through ``MEDLEYDB_CLASS_MAP`` (``"tenor saxophone"`` -> sax,
    ``"violin section"`` -> vn); other instruments keep MedleyDB's name. Tracks whose metadata says
    ``has_bleed: yes`` are skipped unless ``include_bleed`` (their stems hear each other).
    """
    root = _existing_folder(root)
    metadata_files = sorted(root.rglob("*_METADATA.yaml"))
    if not metadata_files:
        raise AvsepError(f"no MedleyDB metadata (*_METADATA.yaml) under {root}")
    stem_folders = {p.name: p for p in root.rglob("*_STEMS") if p.is_dir()}
    tracks = []
    for path in metadata_files:
        metadata = _load_yaml(path)
        if str(metadata.get("has_bleed", "no")).lower() in ("yes", "true") and not include_bleed:
            continue
        track = _medleydb_track(path, metadata, stem_folders, sample_rate)
        if track.parts:
            tracks.append(track)
    if not tracks:
        raise AvsepError(f"no MedleyDB tracks with stems under {root} (bleed tracks are skipped unless asked for)")
    return sorted(tracks, key=lambda track: track.name)


def _medleydb_track(metadata_path, metadata, stem_folders, sample_rate):
    name = metadata_path.name[:-len("_METADATA.yaml")]
    stem_dir = metadata.get("stem_dir", f"{name}_STEMS")
    folder = metadata_path.parent / stem_dir if (metadata_path.parent / stem_dir).is_dir() else stem_folders.get(stem_dir)
    if folder is None:
        raise AvsepError(f"{metadata_path}: its stem folder {stem_dir} is nowhere under the dataset root")
    parts = []
    for _, stem in sorted((metadata.get("stems") or {}).items()):
        path = folder / stem["filename"]
        if not path.is_file():
            raise AvsepError(f"{metadata_path}: stem file {path} is missing")
        parts.append(Stem(_medleydb_label(stem.get("instrument")), path))
    mix = folder.parent / metadata.get("mix_filename", f"{name}_MIX.wav")
    return Track(name, parts, Stem("mix", mix) if mix.is_file() else None, sample_rate,
                 group=f"artist:{metadata.get('artist') or name}", dataset="medleydb")


def _medleydb_label(instrument):
    """A vocabulary code when every instrument of the stem maps to the same one, else the name(s)."""
    names = instrument if isinstance(instrument, list) else [instrument or "Unlabeled"]
    codes = {MEDLEYDB_CLASS_MAP.get(str(n).lower()) for n in names}
    return codes.pop() if len(codes) == 1 and None not in codes else "+".join(str(n) for n in names)


def read_bach10(root, sample_rate=None):
    """Bach10: ten chorales, each ``NN-Title/`` with the mix and violin, clarinet, saxophone, bassoon."""
    root = _existing_folder(root)
    tracks = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and _BACH10_FOLDER.match(p.name)):
        named = {path.stem[len(folder.name) + 1:].lower(): path for path in folder.glob(f"{folder.name}-*.wav")}
        unknown = sorted(set(named) - set(BACH10_CLASS_MAP))
        if unknown:
            raise AvsepError(f"{folder}: unknown Bach10 instrument {unknown[0]!r} "
                             f"(expected one of {', '.join(BACH10_CLASS_MAP)})")
        # score order, soprano to bass, as the map lists them
        parts = [Stem(code, named[name]) for name, code in BACH10_CLASS_MAP.items() if name in named]
        if not parts:
            raise AvsepError(f"{folder} has no {folder.name}-<instrument>.wav stems")
        mix = folder / f"{folder.name}.wav"
        tracks.append(Track(folder.name, parts, Stem("mix", mix) if mix.is_file() else None, sample_rate,
                            dataset="bach10"))
    if not tracks:
        raise AvsepError(f"no Bach10 piece folders (like 01-AchGottundHerr) in {root}")
    return tracks


def _existing_folder(root):
    root = Path(root)
    if not root.is_dir():
        raise AvsepError(f"no such dataset folder: {root}")
    return root


def _load_yaml(path):
    try:
        metadata = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise AvsepError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(metadata, dict):
        raise AvsepError(f"{path} is not a MedleyDB metadata mapping")
    return metadata


def get_parser():
    parser = argparse.ArgumentParser(prog="python -m data.readers", description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="dataset folder")
    parser.add_argument("--format", default="auto", choices=("auto", *FORMATS), help="dataset layout (default: detect)")
    parser.add_argument("--validation-fraction", type=float, default=0.05, help="as data.validation_fraction")
    return add_debug_flag(parser)


def _run(args):
    tracks = read_dataset(args.root, args.format)
    validation = {t.name for t in validation_split(tracks, args.validation_fraction)[1]}
    rows = [(t.name, ", ".join(t.labels), t.group, "validation" if t.name in validation else "train") for t in tracks]
    print_table(("track", "parts (vocabulary codes or the dataset's names)", "group", "split"), rows)
    outside = Counter(part.label for t in tracks for part in t.parts if part.code is None)
    print(f"\n{len(tracks)} {tracks[0].dataset} tracks, {len({t.group for t in tracks})} groups, "
          f"{len(validation)} tracks validate")
    if outside:
        print("outside the vocabulary (accompaniment, no target): "
              + ", ".join(f"{label} x{count}" for label, count in outside.most_common()))


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
