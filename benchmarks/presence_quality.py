"""Who plays, judged per clip: precision, recall and F1 of presence from the picture, the sound and both.

    python benchmarks/presence_quality.py [--detector W] [--tagger T] [--sound-only] [--unsure-ratio R] [--json OUT]

Each clip's predicted instruments (clip probability >= 0.5) are compared with the truth; counts
are summed over clips and instruments (micro average). So are the instruments the separation
job gives a stem (those that reach 0.5 anywhere in the timeline: ``audio.separator.present_indices``),
the "stems" columns. Sets:

1. real performance videos (../shared/data/video_real; truth from its README, one clip with no
   instrument of ours), with the real detector weights at hand: ../shared/models' Open Images V7
   nano (``yolov8n-oiv7-dequant.pt``); the default ``yolov8m-oiv7.pt`` is not on this machine;
2. the real URMP excerpts (../shared/data/urmp_excerpts, sound only; truth from the file names);
3. drawn demo videos of the held-out synthetic pieces (``.cache/bench/videos``, made by
   ``make bench``; the demo detector, the pieces' mixes as sound);
4. the second recorded library's held-out pieces (``.cache/datasets/vsco_test``, made by ``make
   bench``; sound only): recorded timbres, many of them winds, that no training used.

Sets whose files are absent are skipped with a note. Prints a Markdown table, F1 pooled over every
clip and over the real ones (how a tagger is judged before it ships: configs/tagger-*.yaml), and
each real clip's predictions. ``--sound-only`` judges a tagger alone: every set by its sound, the
drawn videos' soundtracks read from the synthetic set's mixes (``.cache/datasets/synth_test``).
"""
import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.calibrate_tagger import micro_f1, rendered_clips  # noqa: E402  (after the path insert)

SHARED = ROOT.parent / "shared"
REAL_VIDEOS = SHARED / "data" / "video_real"
REAL_DETECTOR = SHARED / "models" / "yolov8n-oiv7-dequant.pt"
URMP_REFERENCES = SHARED / "data" / "urmp_excerpts" / "reference"
DRAWN_VIDEOS = ROOT / ".cache" / "bench" / "videos"
DEMO_DETECTOR = ROOT / "models" / "demo_detector.pt"
SECOND_LIBRARY_TEST = ROOT / ".cache" / "datasets" / "vsco_test"
SYNTHETIC_TEST = ROOT / ".cache" / "datasets" / "synth_test"
REAL_SETS = ("real videos", "URMP excerpts")
SENSES = {True: ("video", "audio", "both"), False: ("audio",)}  # looking at the picture or not

# ../shared/data/video_real/README.md: the instruments of ours in each clip.
REAL_VIDEO_TRUTH = {
    "mma_flute-demo.mp4": {"fl"},
    "mma_oboe-demo.mp4": {"ob"},
    "sop_MUSICframes_cello-YmKMEpt9OjQ_t30-50.mp4": {"vc"},
    "clipsep_violin-WjwOm5pJlI0.mp4": {"vn"},
    "rluke22_guitar_piano.mp4": set(),
}
URMP_TRUTH = {"12_mix.wav": {"vn", "vc"}, "20_mix.wav": {"tpt", "vn", "vc"}, "35_mix.wav": {"vn", "va", "db"}}


def detectors_for(weights):
    """``{sense: Detector}`` at ``separate_video``'s defaults for each sense that looks."""
    from fusion.evidence import PICTURE_SAMPLING
    from vision.detector import Detector

    return {sense: Detector(weights, max_imgsz=max_imgsz) for sense, (_, max_imgsz) in PICTURE_SAMPLING.items()}


def measure_set(name, clips, detectors, tagger, senses):
    """Rows of ``{set, sense, clip, truth, predicted, clip_scores}`` for ``{path: truth}`` clips.

    Each sense runs as ``separate_video --presence-from SENSE`` would (``resolve_presence``).
    """
    from audio.separator import present_indices
    from fusion.instruments import CODES
    from pipelines.separate import resolve_presence

    rows = []
    for path, truth in clips.items():
        for sense in senses:
            presence = resolve_presence(path, detector=(detectors or {}).get(sense), presence_from=sense, tagger=tagger)
            rows.append({"set": name, "sense": sense, "clip": Path(path).name, "truth": sorted(truth),
                         "predicted": list(presence.present_codes()),
                         "stems": [CODES[i] for i in present_indices(presence.values)],
                         "clip_scores": {c: round(float(v), 2) for c, v in zip(CODES, presence.clip) if v >= 0.1}})
    return rows


def table(rows):
    lines = ["| set | sense | clips | precision | recall | F1 | stems precision | stems recall | stems F1 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["set"] for r in rows):
        for sense in dict.fromkeys(r["sense"] for r in rows if r["set"] == name):
            picked = [r for r in rows if r["set"] == name and r["sense"] == sense]
            scores = [micro_f1([(set(r["truth"]), set(r[key])) for r in picked]) for key in ("predicted", "stems")]
            lines.append(f"| {name} | {sense} | {len(picked)} | " + " | ".join(f"{v:.2f}" for v in sum(scores, ())) + " |")
    return "\n".join(lines)


def clip_lines(rows):
    lines = []
    for r in rows:
        scores = ", ".join(f"{code} {value:.2f}" for code, value in r["clip_scores"].items())
        lines.append(f"- {r['set']} / {r['clip']} / {r['sense']}: truth {','.join(r['truth']) or '-'}, "
                     f"predicted {','.join(r['predicted']) or '-'}, stems {','.join(r['stems']) or '-'} "
                     f"(clip scores >= 0.1: {scores or 'none'})")
    return "\n".join(lines)


def clip_sets(args):
    """``[(set name, {path: truth}, {sense: Detector} or None, senses)]`` of the sets at hand, and notes on the rest."""
    from fusion.instruments import parse_urmp_name

    looks = not args.sound_only
    sets, notes = [], []
    if REAL_VIDEOS.exists() and (args.detector.exists() or not looks):
        clips = {REAL_VIDEOS / name: truth for name, truth in REAL_VIDEO_TRUTH.items()}
        sets.append(("real videos", clips, detectors_for(args.detector) if looks else None, SENSES[looks]))
    else:
        notes.append(f"real videos: {REAL_VIDEOS} or {args.detector} absent; not measured")
    if URMP_REFERENCES.exists():
        sets.append(("URMP excerpts", {URMP_REFERENCES / name: truth for name, truth in URMP_TRUTH.items()}, None,
                     ("audio",)))
    else:
        notes.append(f"URMP excerpts: {URMP_REFERENCES} absent; not measured")
    if looks:
        drawn = sorted(DRAWN_VIDEOS.glob("Vid_*.mp4")) if DRAWN_VIDEOS.exists() else []
        if drawn and DEMO_DETECTOR.exists():
            clips = {path: set(parse_urmp_name(path.name).codes) for path in drawn}
            sets.append(("drawn demo videos", clips, detectors_for(DEMO_DETECTOR), SENSES[True]))
        else:
            notes.append(f"drawn demo videos: none in {DRAWN_VIDEOS} (make bench makes them); not measured")
    else:  # the drawn videos' soundtracks are the synthetic set's mixes
        add_rendered_pieces("synthetic set", SYNTHETIC_TEST, sets, notes)
    add_rendered_pieces("second library", SECOND_LIBRARY_TEST, sets, notes)
    return sets, notes


def add_rendered_pieces(name, root, sets, notes):
    """Append the set of rendered pieces under ``root`` (``*/AuMix_*.wav``, truth from the folder names), judged
    by the sound, to ``sets``; or a note to ``notes`` when there are none."""
    clips = rendered_clips(root)
    if clips:
        sets.append((name, clips, None, ("audio",)))
    else:
        notes.append(f"{name}: no pieces in {root} (make bench makes them); not measured")


def pooled_lines(rows):
    """Clip F1 per sense over every clip measured, and over the real ones (videos and URMP excerpts)."""
    lines = []
    for sense in dict.fromkeys(r["sense"] for r in rows):
        for name, picked in (("every clip", [r for r in rows if r["sense"] == sense]),
                             ("real clips", [r for r in rows if r["sense"] == sense and r["set"] in REAL_SETS])):
            if picked:
                f1 = micro_f1([(set(r["truth"]), set(r["predicted"])) for r in picked])[2]
                lines.append(f"- pooled, {sense}, {name} ({len(picked)}): F1 {f1:.2f}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", type=Path, default=REAL_DETECTOR, help="weights for the real videos")
    parser.add_argument("--tagger", type=Path, help="a .keras tagger (default: the shipped one)")
    parser.add_argument("--sound-only", action="store_true",
                        help="judge the sound alone, on the synthetic set's mixes instead of the drawn videos")
    parser.add_argument("--unsure-ratio", type=float, default=None,
                        help="likeliest_when_unsure's ratio (0: off; default: the tagger card's, else audio.tagger.UNSURE_RATIO)")
    parser.add_argument("--json", type=Path, help="also write every clip's row here")
    args = parser.parse_args(argv)
    from audio.tagger import InstrumentTagger

    tagger, rows = InstrumentTagger(args.tagger, unsure_ratio=args.unsure_ratio), []
    sets, notes = clip_sets(args)
    for name, clips, detectors, senses in sets:
        rows += measure_set(name, clips, detectors, tagger, senses)
    print(table(rows))
    print()
    print(pooled_lines(rows))
    print()
    print(clip_lines([r for r in rows if r["set"] in REAL_SETS]))
    for note in notes:
        print(f"- {note}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
