"""``python -m pipelines.batch ROOT [--out DIR]``: separate every piece of a URMP-layout tree.

Each piece folder (``NN_Title_codes``) is one item: its ``Vid_`` video when there is one
(presence detected in the picture, or taken from the folder name with ``--labels``), else its
``AuMix_`` file with the instruments of the folder name. Outputs go to ``OUT/<piece>/`` as
``separate_video`` writes them. Finished items (a ``manifest.json``) are skipped unless
``--force``; a failing item is recorded and the batch goes on; ``OUT/summary.csv`` lists every
item as done, skipped or failed with its one-line reason; the exit code is 1 if any failed.
The detector and the model are loaded once for the whole batch.
"""
import argparse
import csv
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from common.cli import EXIT_FAILED_ITEMS, add_debug_flag, run_cli
from common.errors import AvsepError, InvalidNameError, UnknownInstrumentError
from common.ffmpeg import probe_media
from common.files import atomic_path
from fusion.instruments import parse_urmp_name
from vision.detector import DEFAULT_WEIGHTS


@dataclass
class Item:
    """One piece to separate: its media, and the codes its name gives."""

    name: str
    media: Path
    codes: tuple
    is_video: bool


def find_items(root):
    """Items of every URMP piece folder under ``root`` (recursively), sorted by name."""
    items = []
    for folder in sorted(p for p in Path(root).rglob("*") if p.is_dir()):
        try:
            piece = parse_urmp_name(folder.name)
        except (InvalidNameError, UnknownInstrumentError):
            continue
        video = next(folder.glob("Vid_*.mp4"), None)
        mix = next(folder.glob("AuMix_*.wav"), None)
        if video or mix:
            items.append(Item(folder.name, video or mix, piece.codes, video is not None))
    if not items:
        raise AvsepError(f"no URMP piece folders with a Vid_ or AuMix_ file under {root}")
    return items


def process_item(item, out_dir, separator, detector, use_labels):
    """Separate one item into ``out_dir/<item.name>``; return the list of instruments written."""
    from fusion.presence import Presence
    from pipelines.separate import separate_media
    from vision.detect_instruments import detect_video

    if item.is_video and not use_labels:
        presence = detect_video(item.media, detector)
    else:
        presence = Presence.constant(item.codes, source="folder name")
    manifest = separate_media(item.media, Path(out_dir) / item.name, separator, presence, force=True)
    return manifest["instruments"]


def get_parser():
    parser = argparse.ArgumentParser(prog="python -m pipelines.batch", description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a URMP-layout tree")
    parser.add_argument("--out", type=Path, default=Path("separated"), help="output folder (default: separated/)")
    parser.add_argument("--detector", default=DEFAULT_WEIGHTS, help="ultralytics weights for videos")
    parser.add_argument("--labels", action="store_true", help="take instruments from folder names, not the picture")
    parser.add_argument("--model", type=Path, help="a .keras separation model (default: the shipped one)")
    parser.add_argument("--force", action="store_true", help="redo finished items")
    return add_debug_flag(parser)


def _run(args):
    from audio.separator import Separator

    items = find_items(args.root)
    separator = Separator(args.model)
    detector = None
    if not args.labels and any(item.is_video for item in items):
        from vision.detector import Detector

        detector = Detector(args.detector)
    rows, failed = [], 0
    durations = {item.name: _duration(item.media) for item in items}
    with tqdm(total=round(sum(durations.values()), 1), unit="s", desc="batch") as bar:
        for item in items:
            started = time.monotonic()
            if (args.out / item.name / "manifest.json").exists() and not args.force:
                rows.append((item.name, str(item.media), "skipped", "", ""))
            else:
                try:
                    codes = process_item(item, args.out, separator, detector, args.labels)
                    rows.append((item.name, str(item.media), "done", ",".join(codes), ""))
                except Exception as error:  # noqa: BLE001  (a failure never stops the batch)
                    if args.debug:
                        raise
                    failed += 1
                    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
                    rows.append((item.name, str(item.media), "failed", "", reason))
            rows[-1] += (f"{time.monotonic() - started:.1f}",)
            bar.update(durations[item.name])
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "summary.csv") as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("item", "media", "status", "instruments", "reason", "seconds"))
        writer.writerows(rows)
    counts = {status: sum(r[2] == status for r in rows) for status in ("done", "skipped", "failed")}
    print(f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed; "
          f"summary: {args.out / 'summary.csv'}")
    return EXIT_FAILED_ITEMS if failed else 0


def _duration(path):
    try:
        return probe_media(path).duration_s or 0.0
    except AvsepError:
        return 0.0


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
