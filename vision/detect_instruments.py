"""``python -m vision.detect_instruments INPUT...``: who plays in these videos, and when.

INPUT is a video or a folder searched recursively (a URMP root works). For each video it writes
``OUT/<video stem>.presence.json`` (see ``fusion.presence``), then prints a summary table.
Videos that already have an output are skipped unless ``--force``; a failing video is reported
and the others go on; the exit code is 1 if any failed, 2 for unusable arguments.
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from common.cli import EXIT_FAILED_ITEMS, add_debug_flag, print_table, run_cli
from common.errors import AvsepError, one_line
from common.scoring import precision_recall_f1
from common.ffmpeg import probe_media
from fusion.instruments import CODES, parse_urmp_name
from fusion.timeline import aggregate
from vision.detector import DEFAULT_CONFIDENCE, DEFAULT_WEIGHTS, Detector
from vision.frames import SamplingStats, sample_frames

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
KEYFRAMES = 6  # frames whose boxes the presence JSON keeps, for the report's picture strip


def find_videos(inputs):
    """Videos named or found (recursively) under the inputs, in order, without duplicates."""
    videos = []
    for item in map(Path, inputs):
        if item.is_dir():
            videos += sorted(p for p in item.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
        else:
            videos.append(item)  # a missing file fails for itself, in the summary
    return list(dict.fromkeys(videos))


def detect_video(path, detector, fps=1.0, threshold=None, progress=None):
    """Detect instruments in one video.

    Args:
        path: the video.
        detector: a :class:`vision.detector.Detector`.
        fps: frames sampled per second.
        threshold: hard labels with hysteresis (see ``fusion.timeline``), or None for probabilities.
        progress: an optional tqdm bar advanced in seconds of video.

    Returns:
        :class:`fusion.presence.Presence`, with detector and sampling details in ``meta``, and
        ``meta["players"]``: per timeline row, the highest confidence of anything showing a player
        (``score``), the people seen (``count``) and the instruments not ours seen (``others``),
        for ``fusion.evidence``.
    """
    stats = SamplingStats()
    times, evidence, batch, boxes = [], [], [], []

    def flush():
        evidence.append(detector.detect([frame.image for frame in batch], boxes_out=boxes))
        if progress is not None:
            progress.update(len(batch) / fps)
        batch.clear()

    for frame in sample_frames(path, fps=fps, stats=stats):
        times.append(frame.time_s)
        batch.append(frame)
        if len(batch) == detector.batch_size:
            flush()
    if batch:
        flush()
    scores, counts = (np.concatenate([getattr(e, name) for e in evidence]) for name in ("scores", "counts"))
    meta = {"detector": detector.describe(), "frames_sampled": stats.frames_sampled,
            "frames_decoded": stats.frames_decoded, "sampling_fps": fps, "video": str(path),
            "duration_s": stats.duration_s, "source": "video",
            "boxes_per_frame_max": {code: int(n) for code, n in zip(CODES, counts.max(axis=0)) if n},
            "players": {"score": [round(float(v), 3) for e in evidence for v in e.players],
                        "count": np.concatenate([e.nb_players for e in evidence]).tolist(),
                        "others": np.concatenate([e.nb_others for e in evidence]).tolist()},
            "keyframes": keyframes(times, boxes)}
    return aggregate(np.array(times), scores, hop_s=1.0 / fps, threshold=threshold, meta=meta)


def keyframes(times, boxes, count=KEYFRAMES):
    """Up to ``count`` evenly spaced sampled frames with their boxes: ``[{"time_s", "boxes"}]`` (for reports)."""
    if not times:
        return []
    picks = np.unique(np.linspace(0, len(times) - 1, min(count, len(times))).round().astype(int))
    return [{"time_s": round(float(times[i]), 3), "boxes": boxes[i]} for i in picks]


def relative_names(videos):
    """``{video: name}``, unique: the file name, or for videos that share one, the path below their common folder.

    ``a/take.mp4`` and ``b/other.mp4`` stay ``take.mp4`` and ``other.mp4``; ``cam1/take.mp4`` and
    ``cam2/take.mp4`` become ``cam1/take.mp4`` and ``cam2/take.mp4``.
    """
    by_name = {}
    for video in videos:
        by_name.setdefault(Path(video).name, []).append(video)
    names = {}
    for name, group in by_name.items():
        if len(group) == 1:
            names[group[0]] = name
            continue
        common = Path(os.path.commonpath([Path(v).absolute().parent for v in group]))
        names.update({video: Path(video).absolute().relative_to(common).as_posix() for video in group})
    return names


def output_path(out_dir, relative_name):
    """``OUT/<relative folder>/<stem>.presence.json`` for a video's :func:`relative_names` entry."""
    relative = Path(relative_name)
    return Path(out_dir) / relative.parent / f"{relative.stem}.presence.json"


def name_scores(rows):
    """Precision, recall, F1 per instrument of clip presence vs the codes in URMP names.

    Args:
        rows: ``[(true codes set, predicted codes set)]`` per video.

    Returns:
        ``{code: (precision, recall, f1, support)}`` for codes that occur in truth or prediction.
    """
    result = {}
    for code in CODES:
        tp = sum(code in t and code in p for t, p in rows)
        fp = sum(code not in t and code in p for t, p in rows)
        fn = sum(code in t and code not in p for t, p in rows)
        if tp + fp + fn:
            result[code] = (*precision_recall_f1(tp, tp + fp, tp + fn), tp + fn)
    return result


def get_parser():
    parser = argparse.ArgumentParser(prog="python -m vision.detect_instruments", description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", help="videos, or folders to search recursively")
    parser.add_argument("--out", type=Path, default=Path("presence"), help="output folder (default: presence/)")
    parser.add_argument("--detector", default=DEFAULT_WEIGHTS,
                        help=f"ultralytics weights (.pt/.onnx; default {DEFAULT_WEIGHTS}, must be on disk)")
    parser.add_argument("--fps", type=float, default=1.0, help="frames sampled per second (default 1)")
    parser.add_argument("--conf", type=float, default=DEFAULT_CONFIDENCE, help="minimum box confidence")
    parser.add_argument("--imgsz", type=int, help="detector input size in pixels (default: the weights' training size)")
    parser.add_argument("--class-map", type=Path, help="YAML of extra 'detector class: code' entries")
    parser.add_argument("--threshold", type=float, help="write hard 0/1 labels (with hysteresis) at this level")
    parser.add_argument("--labels-from-names", action="store_true",
                        help="score clip presence against the instruments in URMP names (Vid_01_Jupiter_vn_vc)")
    parser.add_argument("--force", action="store_true", help="redo videos that already have an output")
    return add_debug_flag(parser)


def _run(args):
    if args.fps <= 0:
        raise AvsepError(f"--fps must be positive, got {args.fps}")
    videos = find_videos(args.inputs)
    if not videos:
        raise AvsepError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) in {' '.join(args.inputs)}")
    detector = Detector(args.detector, args.class_map, args.conf, args.imgsz)
    rows, failures, truth_rows = [], 0, []
    durations = {}
    for video in videos:
        try:
            durations[video] = probe_media(video).duration_s or 0.0
        except AvsepError:
            durations[video] = 0.0
    names = relative_names(videos)
    with tqdm(total=round(sum(durations.values()), 1), unit="s", unit_scale=True, desc="detecting") as bar:
        for video in videos:
            target = output_path(args.out, names[video])
            started = time.monotonic()
            try:
                if target.exists() and not args.force:
                    status, presence = "skipped", None
                    bar.update(durations[video])
                else:
                    presence = detect_video(video, detector, args.fps, args.threshold, bar)
                    presence.save(target)
                    status = "done"
                codes = ",".join(presence.present_codes()) if presence else "-"
                rows.append((names[video], f"{durations[video]:.1f}", status, codes, f"{time.monotonic() - started:.1f}"))
                if args.labels_from_names and presence is not None and video.name.startswith("Vid_"):
                    truth_rows.append((set(parse_urmp_name(video.name).codes), set(presence.present_codes())))
            except Exception as error:  # noqa: BLE001  (one failing video never stops the others)
                if args.debug:
                    raise
                failures += 1
                message = one_line(error)
                rows.append((names[video], f"{durations[video]:.1f}", "failed", message, ""))
    print_table(("video", "seconds", "status", "present", "took s"), rows)
    if args.labels_from_names:
        _print_name_scores(truth_rows)
    return EXIT_FAILED_ITEMS if failures else 0


def _print_name_scores(truth_rows):
    if not truth_rows:
        print("no URMP-named videos were processed: nothing to score")
        return
    scores = name_scores(truth_rows)
    rows = [(code, f"{p:.2f}", f"{r:.2f}", f"{f:.2f}", n) for code, (p, r, f, n) in scores.items()]
    print()
    print_table(("instrument", "precision", "recall", "F1", "videos"), rows)


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
