"""``make bench``: measure everything and write BENCHMARKS.md.

    python benchmarks/report.py [--out BENCHMARKS.md] [--skip-speed]

1. Quality on the held-out synthetic set (``.cache/datasets/synth_test``: test-split scores, a
   SoundFont training never used), made first if absent: the mixture, the ideal ratio mask,
   supervised NMF with dictionaries learned from each piece's own true stems ("nmf-oracle": what
   knowing the players' timbres is worth), supervised NMF (dictionaries from the training data; and,
   as "nmf-soundfont", the older ones learned from SoundFont renders), the unconditioned Wave-U-Net,
   the conditioned one with true labels (without and with the Wiener post-filter; and, as
   "conditioned-soundfont-data", "conditioned-notes-data", "conditioned-phrases-data" and
   "conditioned-cpu-stages", the model as it was trained on SoundFont renders only, then also on
   ensembles of recorded notes, then also on ensembles of recorded phrases, then with wind
   ensembles too (the last CPU stage, before its GPU stage); "conditioned-wide-labels[-wiener]":
   the larger size, 24 filters per level; "conditioned-labels-nmf-blend": the Wiener filter with NMF's stems
   mixed into its source models, ``--nmf-blend`` (the job's default with named instruments); "masknet-labels[-wiener]" and
   "masknet-unconditioned": the other network, STFT masks, and its twin), and the conditioned one
   with presence detected in drawn videos of the same pieces.
2. Quality on the real URMP excerpts in ../shared (skipped with a note if absent), beside the
   peer's published outputs; then on the same excerpts with an instrument outside the vocabulary
   added 6 dB under the ensemble (``benchmarks/accompaniment.py``; its clips made first if absent).
   Then on recorded timbres no training uses: held-out pieces played by a second sample library
   (fetched from npm by ``data.fetch_samples``, rendered by ``data.synth``; both first if absent).
   On every set, "conditioned-heard" takes presence from the sound (the tagger), as ``separate_audio`` does.
3. Who plays: clip-level precision, recall and F1 of presence from the picture, the sound and
   both, on real videos, the real excerpts, the drawn videos and the second library's pieces
   (``benchmarks/presence_quality.py``).
4. Speed and memory of separation, detection and presence from both senses, training throughput,
   and the speed of rendering training data from recorded samples, on this machine.

Working files go to ``.cache/bench/``. Every number is printed with the command behind it.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audio.architectures import describe  # noqa: E402
from audio.separator import DEFAULT_MODEL, MODELS_DIR  # noqa: E402
from benchmarks.presence_quality import SECOND_LIBRARY_TEST  # noqa: E402
from common.files import atomic_path  # noqa: E402
from pipelines.separate import NAMED_BLEND  # noqa: E402

WORK = ROOT / ".cache" / "bench"
SYNTH_TEST = ROOT / ".cache" / "datasets" / "synth_test"
SYNTH_TEST_COMMAND = [sys.executable, "-m", "data.synth", "--out", str(SYNTH_TEST), "--pieces", "24", "--seed", "8",
                      "--split", "test", "--soundfont", "/usr/share/sounds/sf2/TimGM6mb.sf2", "--workers", "2"]
# Recorded timbres no training uses: test-split pieces from a second sample library (mostly VSCO-2 CE, fetched
# from npm by data.fetch_samples; TimGM6mb plays the instruments and pitches it lacks), a third to half winds
SECOND_LIBRARY = ROOT / ".cache" / "samples" / "vsco"  # its held-out pieces: presence_quality.SECOND_LIBRARY_TEST
SECOND_LIBRARY_COMMANDS = [
    [sys.executable, "-m", "data.fetch_samples", "--out", str(SECOND_LIBRARY)],
    [sys.executable, "-m", "data.synth", "--samples", str(SECOND_LIBRARY), "--soundfont",
     "/usr/share/sounds/sf2/TimGM6mb.sf2", "--sample-share", "1", "--wind-ensembles", "0.5", "--split", "test",
     "--seed", "101", "--pieces", "24", "--out", str(SECOND_LIBRARY_TEST), "--workers", "2"]]
URMP_EXCERPTS = ROOT.parent / "shared" / "data" / "urmp_excerpts"
SAMPLES = ROOT.parent / "shared" / "data" / "samples" / "philharmonia"
UNCONDITIONED_MODEL = MODELS_DIR / "waveunet_unconditioned.keras"
DEMO_DETECTOR = MODELS_DIR / "demo_detector.pt"
SOUNDFONT_NMF = MODELS_DIR / "nmf_dictionaries_soundfont.npz"
# Earlier stages of the default model, kept as the training-data ablation (system name -> weights)
ABLATION_MODELS = {"conditioned-soundfont-data": MODELS_DIR / "waveunet_film_soundfont.keras",
                   "conditioned-notes-data": MODELS_DIR / "waveunet_film_notes.keras",
                   "conditioned-phrases-data": MODELS_DIR / "waveunet_film_phrases.keras",
                   "conditioned-cpu-stages": MODELS_DIR / "waveunet_film_cpu.keras"}
WIDE_MODEL = MODELS_DIR / "waveunet_film_wide.keras"  # the size ablation: 24 filters per level, not 16
# The network ablation: STFT masks (audio/masknet.py) instead of the Wave-U-Net, and its unconditioned twin
MASKNET_MODEL, MASKNET_UNCONDITIONED = MODELS_DIR / "masknet_film.keras", MODELS_DIR / "masknet_unconditioned.keras"
# clips of instruments outside the vocabulary: test-split scores, a SoundFont training never uses (its clips
# come from FluidR3 and MuseScore General: configs/accompaniment.yaml)
ACCOMPANIMENT = WORK / "accompaniment-timgm6mb"
ACCOMPANIMENT_COMMAND = [sys.executable, "-m", "data.accompaniment", "--out", str(ACCOMPANIMENT), "--clips", "8",
                         "--split", "test", "--seconds", "30", "--sample-rate", "44100", "--workers", "2",
                         "--soundfont", "/usr/share/sounds/sf2/TimGM6mb.sf2"]


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def shell(command, env=None):
    """Run a command from the project root; return its stdout."""
    process = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed:\n{process.stderr[-2000:]}")
    return process.stdout


def video_presence_estimates(pieces_root, out_dir, separator, detector):
    """Conditioned separation of each piece's mix with presence detected in its drawn video."""
    from pipelines.separate import separate_media
    from vision.demo_assets import make_video
    from vision.detect_instruments import detect_video

    rows = []
    for piece in sorted(p for p in pieces_root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        video = WORK / "videos" / f"Vid_{piece.name}.mp4"
        if not video.exists():
            make_video(piece, video.parent)
        presence = detect_video(video, detector)
        mix = next(piece.glob("AuMix_*.wav"))
        separate_media(mix, out_dir / piece.name, separator, presence, force=True)
        truth = set(piece.name.split("_")[2:])
        rows.append((truth, set(presence.present_codes())))
    return rows


def heard_presence_estimates(references, out_dir, separator, tagger, wiener=True, nmf_blend=None):
    """Conditioned separation of each mixture with presence from its sound, as ``separate_audio`` runs it
    without ``--instruments`` (the tagger; by default the Wiener filter on; ``nmf_blend``: an
    :class:`audio.postfilter.NmfBlend`). Mixtures: ``*/AuMix_*.wav`` or ``*_mix.wav``."""
    from pipelines.separate import resolve_presence, separate_media

    mixes = sorted(references.glob("*/AuMix_*.wav")) or sorted(references.glob("*_mix.wav"))
    for mix in mixes:
        presence = resolve_presence(mix, presence_from="audio", tagger=tagger)
        separate_media(mix, out_dir / mix.stem.removeprefix("AuMix_"), separator, presence, force=True, wiener=wiener,
                       nmf_blend=nmf_blend)


def quality_section(title, references, systems, note=""):
    """Evaluate ``{name: folder}`` against ``references``; return Markdown and the report."""
    from pipelines.evaluate import evaluate, markdown_table

    report = evaluate(references, list(systems.items()), WORK / "eval" / title.split()[0].lower(), workers=2)
    lines = [f"### {title}", "", note, "", markdown_table(report["systems"])]
    return "\n".join(lines), report


def estimates_for(references, tag, with_video=False, ablations=True):
    """Estimates of every system on ``references`` under ``.cache/bench/<tag>/``; without ``ablations``,
    only the baselines, the twin and the shipped model's rows (labels, filter, NMF blend, heard presence)."""
    from audio.separator import Separator
    from audio.tagger import InstrumentTagger
    from pipelines.baselines import estimate

    out = WORK / tag
    systems = {}
    for system in ("mixture", "irm", "nmf-oracle", "nmf"):
        estimate(system, references, out / system)
        systems[system] = out / system
    if UNCONDITIONED_MODEL.exists():
        estimate("waveunet", references, out / "unconditioned", model=UNCONDITIONED_MODEL)
        systems["unconditioned"] = out / "unconditioned"
    if ablations:
        systems.update(ablation_estimates(references, out))
    for name, options in (("conditioned-labels", {}), ("conditioned-labels-wiener", {"wiener": True}),
                          ("conditioned-labels-nmf-blend", {"wiener": True, "nmf_blend": NAMED_BLEND})):
        estimate("waveunet", references, out / name, model=DEFAULT_MODEL, **options)
        systems[name] = out / name
    separator = Separator(DEFAULT_MODEL)
    heard_presence_estimates(references, out / "conditioned-heard", separator, InstrumentTagger())
    systems["conditioned-heard"] = out / "conditioned-heard"
    detection = None
    if with_video and DEMO_DETECTOR.exists():
        from vision.detector import Detector

        detection = video_presence_estimates(references, out / "conditioned-video", separator, Detector(DEMO_DETECTOR))
        systems["conditioned-video"] = out / "conditioned-video"
    return systems, detection


def ablation_estimates(references, out):
    """``{system: folder}`` of the kept models' estimates on ``references``: the earlier SoundFont NMF, the
    default model's earlier stages, the wider size and the mask network."""
    from pipelines.baselines import estimate

    systems = {}
    if SOUNDFONT_NMF.exists():  # the NMF baseline as it was before recorded samples: dictionaries from SoundFonts
        estimate("nmf", references, out / "nmf-soundfont", dictionaries=SOUNDFONT_NMF)
        systems["nmf-soundfont"] = out / "nmf-soundfont"
    for name, model in ABLATION_MODELS.items():  # the data ablation: the same network at its earlier stages
        if model.exists():
            estimate("waveunet", references, out / name, model=model)
            systems[name] = out / name
    if WIDE_MODEL.exists():
        for name, wiener in (("conditioned-wide-labels", False), ("conditioned-wide-labels-wiener", True)):
            estimate("waveunet", references, out / name, model=WIDE_MODEL, wiener=wiener)
            systems[name] = out / name
    for name, model, wiener in (("masknet-labels", MASKNET_MODEL, False), ("masknet-labels-wiener", MASKNET_MODEL, True),
                                ("masknet-unconditioned", MASKNET_UNCONDITIONED, False)):
        if model.exists():
            estimate("waveunet", references, out / name, model=model, wiener=wiener)
            systems[name] = out / name
    return systems


def second_library_section():
    """Quality on the second library's held-out pieces (made first if absent; a note if it cannot be fetched)."""
    try:
        if not SECOND_LIBRARY.exists():
            shell(SECOND_LIBRARY_COMMANDS[0])
        if not SECOND_LIBRARY_TEST.exists():
            shell(SECOND_LIBRARY_COMMANDS[1])
    except RuntimeError as error:
        return f"Recorded timbres training never heard: not measured ({str(error).splitlines()[0]}).\n"
    references = separable_pieces(SECOND_LIBRARY_TEST, WORK / "second-library-references")
    systems, _ = estimates_for(references, "second-library", ablations=False)
    text, _ = quality_section(
        "Recorded timbres training never heard", references, systems,
        "Test-split scores played by a second recorded sample library that no training uses (mostly Versilian "
        "Studios Chamber Orchestra 2 CE; TimGM6mb plays its missing viola and oboe and its pitch gaps), half "
        f"the ensembles winds only: `{' '.join(SECOND_LIBRARY_COMMANDS[0][1:])}`, then "
        f"`{' '.join(SECOND_LIBRARY_COMMANDS[1][1:])}`. The {len(list(references.iterdir()))} pieces of more than "
        "one instrument (in a piece of one, the summed reference is the mixture). 'conditioned-heard' takes "
        "presence from the sound (the instrument tagger), as `separate_audio` does without `--instruments`.")
    return text


def separable_pieces(root, out):
    """``out``: the piece folders of ``root`` that hold more than one instrument, their files linked
    (a fresh folder; file links, since a recursive glob does not enter linked folders)."""
    from fusion.instruments import parse_urmp_name

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for piece in sorted(p for p in root.iterdir() if p.is_dir()):
        if len(set(parse_urmp_name(piece.name).codes)) > 1:
            (out / piece.name).mkdir()
            for path in piece.iterdir():
                (out / piece.name / path.name).symlink_to(path.resolve())
    return out


def detection_table(rows):
    from vision.detect_instruments import name_scores

    scores = name_scores(rows)
    lines = ["| instrument | precision | recall | F1 | pieces |", "|---|---|---|---|---|"]
    lines += [f"| {code} | {p:.2f} | {r:.2f} | {f:.2f} | {n} |" for code, (p, r, f, n) in scores.items()]
    return "\n".join(lines)


def accompaniment_section(references):
    """The real excerpts again, with a clip of an instrument outside the vocabulary added (the first table)."""
    if not ACCOMPANIMENT.exists():
        shell(ACCOMPANIMENT_COMMAND)
    command = [sys.executable, "benchmarks/accompaniment.py", "--references", str(references), "--accompaniment",
               str(ACCOMPANIMENT), "--residual", "--out", str(WORK / "accompaniment-urmp")]
    tables = "\n".join(line for line in shell(command).splitlines() if line.startswith("|"))
    first_table = tables.split("\n| system |")[0]
    clips = ", ".join(clip["instrument"] for clip in json.loads((ACCOMPANIMENT / "meta.json").read_text()))
    return ("### With an instrument outside the vocabulary\n\nThe real excerpts again, each with a clip of an "
            "instrument that is not ours added 6 dB under the ensemble (`python -m data.accompaniment`, TimGM6mb: "
            "a SoundFont training never uses; piece i "
            f"takes clip i of: {clips}); the references stay our instruments' stems. 'wiener-residual' gives the "
            "Wiener filter one more source model, the mixture minus the network's stems "
            "(`python benchmarks/accompaniment.py "
            f"--references ... --accompaniment {ACCOMPANIMENT.relative_to(ROOT)} --residual`).\n\n{first_table}\n")


def model_card_lines():
    lines = []
    for path in sorted(MODELS_DIR.glob("*.json")):
        card = json.loads(path.read_text())
        if "vocabulary" in card and "window_s" in card:  # the instrument tagger
            lines.append(f"- `{path.with_suffix('.keras').name}`: instrument tagger, conv filters "
                         f"{card['model'].get('filters')}, {card['steps']} steps of batch {card['training']['batch_size']} "
                         f"in its last stage, validation window F1 {card['validation']['f1']:.2f} "
                         f"(mAP {card['validation']['map']:.2f}); trained with `{card['command']}`"
                         + (f"; {card['notes']}" if card.get("notes") else ""))
            continue
        config = card["config"]
        place = f" at {config['condition_at']}" if "condition_at" in config else ""
        validation = ("no validation (the run's last weights)" if card["validation_sdr_db"] is None
                      else f"validation SDR {card['validation_sdr_db']:.2f} dB")
        lines.append(f"- `{path.with_suffix('.keras').name}`: {describe(config)}, conditioning {config['conditioning']}{place}, "
                     f"{card['steps']} steps of batch {card['training']['batch_size']}, {validation}; "
                     f"trained with `{card['command']}`" + (f"; {card['notes']}" if card.get("notes") else ""))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args(argv)
    started = time.monotonic()
    WORK.mkdir(parents=True, exist_ok=True)
    if not SYNTH_TEST.exists():
        shell(SYNTH_TEST_COMMAND)
    sections = [f"# Benchmarks\n\nMade by `make bench` (`python benchmarks/report.py`) on {machine()}, "
                f"{time.strftime('%Y-%m-%d')}. Protocol: museval v4, 1 s windows and hops at the reference rate, "
                "per stem the median over windows with a non-silent reference (mean power at least -80 dB full "
                "scale), then the mean over stems "
                "(`python -m pipelines.evaluate`).\n", "## Models\n", *model_card_lines(), ""]

    systems, detection = estimates_for(SYNTH_TEST, "synthetic", with_video=True)
    text, _ = quality_section("Synthetic held-out set", SYNTH_TEST, systems,
                              f"24 pieces from test-split scores rendered with TimGM6mb, a SoundFont training never "
                              f"used (`{' '.join(SYNTH_TEST_COMMAND[1:])}`). 'conditioned-heard' takes presence from the "
                              "sound (the instrument tagger), as `separate_audio` does without `--instruments`; "
                              "'conditioned-video' from the demo detector on drawn videos of the pieces "
                              "(`vision.demo_assets`).")
    sections += ["## Separation quality\n", text]
    if detection:
        sections += ["Detection on those drawn videos, clip presence vs the names "
                     "(`python -m vision.detect_instruments ... --labels-from-names`):\n", detection_table(detection), ""]
    if URMP_EXCERPTS.exists():
        references = URMP_EXCERPTS / "reference"
        systems, _ = estimates_for(references, "urmp")
        systems["peer"] = URMP_EXCERPTS / "anchor_conditioned_unet"
        text, _ = quality_section("Real URMP excerpts", references, systems,
                                  "Three 10 s excerpts at 48 kHz (12 Spring vn+vc, 20 Pavane tpt+vn+vc, 35 Rondeau "
                                  "vn+va+db); 'peer' is the published conditioned U-Net. Never trained on. "
                                  "'conditioned-heard': presence from the sound, as `separate_audio` finds it.")
        sections += [text, accompaniment_section(references)]
    else:
        sections.append(f"Real URMP excerpts: {URMP_EXCERPTS} is absent on this machine; not measured.\n")
    sections.append(second_library_section())

    sections += ["## Presence: who plays\n", "Per clip, the instruments whose clip probability reaches 0.5, against the "
                 "truth; precision, recall and F1 counted over clips and instruments; 'stems': the same for the "
                 "instruments the separation job gives a stem (those that reach 0.5 anywhere in the timeline) "
                 "(`python benchmarks/presence_quality.py`). 'video': the detector alone; 'audio': the instrument "
                 "tagger (`models/tagger.keras`) alone; 'both': fused (`fusion.evidence`), at `separate_video`'s "
                 "defaults (video alone 1 frame/s; both 0.25 frame/s, at most 480 px). Real videos use the only real "
                 "weights here, ../shared's Open Images V7 nano; the default yolov8m-oiv7.pt is not on this machine. "
                 "'second library': the 24 held-out pieces of the section above (all of them), sound only.\n",
                 shell([sys.executable, "benchmarks/presence_quality.py"]).strip(), ""]
    if not args.skip_speed:
        train_command = [sys.executable, "benchmarks/train_speed.py", "--levels", "8", "--filters", "16"]
        masknet_command = [sys.executable, "benchmarks/train_speed.py", "--config", "configs/masknet.yaml"]
        sections += ["## Speed and memory\n", "The separation job (`python benchmarks/separate_speed.py`): a 44.1 kHz stereo "
                     "file, 3 instruments named, default model, streamed decoding, Wiener post-filter with its NMF blend "
                     "and report included, each length in a fresh process:\n", "```",
                     shell([sys.executable, "benchmarks/separate_speed.py"]).strip(), "```", ""]
        if WIDE_MODEL.exists():
            sections += ["The same job with the wider model (`python benchmarks/separate_speed.py --model "
                         f"models/{WIDE_MODEL.name} --seconds 600`):\n", "```",
                         shell([sys.executable, "benchmarks/separate_speed.py", "--model", str(WIDE_MODEL),
                                "--seconds", "600"]).strip(), "```", ""]
        if MASKNET_MODEL.exists():
            sections += ["The same job with the mask network (`python benchmarks/separate_speed.py --model "
                         f"models/{MASKNET_MODEL.name} --seconds 600`):\n", "```",
                         shell([sys.executable, "benchmarks/separate_speed.py", "--model", str(MASKNET_MODEL),
                                "--seconds", "600"]).strip(), "```", ""]
        sections += ["The same job without the NMF blend, as it runs when the senses find the players "
                     "(`python benchmarks/separate_speed.py --nmf-blend 0 --seconds 600`):\n", "```",
                     shell([sys.executable, "benchmarks/separate_speed.py", "--nmf-blend", "0",
                            "--seconds", "600"]).strip(), "```", ""]
        sections += [
                     "Detection (`python benchmarks/detect_speed.py`): nano YOLO at the default 1 frame/s:\n", "```",
                     shell([sys.executable, "benchmarks/detect_speed.py"]).strip(), "```", "",
                     "Presence from both senses on a 60 s 720p video (`python benchmarks/presence_speed.py`: picture "
                     "at separate_video's defaults with the default detector's architecture, sound through the tagger):\n",
                     "```", shell([sys.executable, "benchmarks/presence_speed.py"]).strip(),
                     "```", "",
                     "Training throughput of the default model size (`[KERAS_BACKEND=jax] python "
                     "benchmarks/train_speed.py --levels 8 --filters 16`) and of the mask network (`... --config "
                     "configs/masknet.yaml`), full steps on random data, batch 8:\n",
                     "```", shell(train_command).strip(), shell(train_command, {"KERAS_BACKEND": "jax"}).strip(),
                     shell(masknet_command, {"KERAS_BACKEND": "jax"}).strip(), "```", "", "Input pipelines at the original windows (`python benchmarks/input_speed.py`):\n",
                     "```", shell([sys.executable, "benchmarks/input_speed.py"]).strip(), "```", ""]
        sections += ["Batch throughput on Ray (`python benchmarks/batch_speed.py`), local and on a two-node "
                     "loopback cluster, and both stages on videos:\n", "```",
                     shell([sys.executable, "benchmarks/batch_speed.py", "--items", "4"]).strip(), "```", ""]
        if SAMPLES.exists():
            sections += ["Rendering training data from recorded samples (`python benchmarks/render_speed.py`, "
                         "the Philharmonia notes in ../shared, 2 workers, 30 s pieces, room included):\n", "```",
                         shell([sys.executable, "benchmarks/render_speed.py"]).strip(), "```", ""]
    sections.append(f"\n_Report made in {time.monotonic() - started:.0f} s._\n")
    with atomic_path(args.out) as tmp:
        tmp.write_text("\n".join(sections))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
