"""``python -m pipelines.report DIR``: ``DIR/report.html``, a page a person opens to look and listen.

A separation folder's report shows the input (name, length; for videos a strip of sampled
frames with the detector's boxes), the presence timeline that was used (instruments x time) and
its source, an audio player and a spectrogram for the mixture and for every stem (one colour
scale for all, so a listener sees what went where), the model and detector, timings and
warnings. It is rendered from ``manifest.json`` and the files beside it, so any finished folder
can be reported again. Batch runs get ``index.html`` (:func:`write_batch_index`), evaluations
a page of scores and violins (:func:`write_evaluation_report`).

Offline and portable: pictures are inline PNGs, audio players link the WAV files beside the
page by relative name, no script, font or stylesheet is fetched; the folder still works when moved.
"""
import argparse
import base64
import html
import io
import json
import sys
from pathlib import Path

import numpy as np
import soundfile

from common.cli import add_debug_flag, run_cli
from common.errors import AvsepError
from common.files import atomic_path
from fusion.instruments import CODES, instrument
from fusion.presence import doubtful_codes, named_scores

REPORT = "report.html"
MIXTURE = "mixture.flac"
SPECTROGRAM_COLUMNS = 1200  # time columns of a spectrogram picture, whatever the length
SPECTROGRAM_TOP_HZ = 8000
DYNAMIC_RANGE_DB = 80
STYLE = """body{font-family:sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
img{max-width:100%}.stem{margin:1em 0}.warning{color:#a40}audio{width:100%}"""


def png_data_uri(figure):
    """A matplotlib figure as an inline ``data:image/png`` URI (the figure is closed)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight", pil_kwargs={"compress_level": 1})
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def spectrogram_db(path):
    """``(duration_s, freqs_hz, level_db (nb_freqs, nb_times))`` of a sound file (channels averaged) up to
    :data:`SPECTROGRAM_TOP_HZ`, from at most :data:`SPECTROGRAM_COLUMNS` evenly spaced frames read by
    seeking, so cost and memory stay the same whatever the length."""
    with soundfile.SoundFile(path) as sound:
        sample_rate, nb_samples = sound.samplerate, sound.frames
        n_fft = 2048 if sample_rate > 30000 else 1024
        nb_columns = max(1, min(SPECTROGRAM_COLUMNS, (nb_samples - n_fft) // (n_fft // 4) + 1))
        starts = np.linspace(0, max(0, nb_samples - n_fft), nb_columns).astype(np.int64)
        frames = np.zeros((nb_columns, n_fft), np.float32)
        for row, start in enumerate(starts):
            sound.seek(int(start))
            chunk = sound.read(n_fft, dtype="float32", always_2d=True).mean(axis=1)
            frames[row, :len(chunk)] = chunk
    freqs = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    keep = freqs <= SPECTROGRAM_TOP_HZ
    level = 20 * np.log10(np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1))[:, keep].T + 1e-10)
    return nb_samples / sample_rate, freqs[keep], level


def spectrogram_pictures(files):
    """``{name: data URI}`` for ``{name: sound file}``, all on one colour scale (the loudest bin is the top)."""
    plt = _pyplot()
    spectra = {name: spectrogram_db(path) for name, path in files.items()}
    top = max(level.max() for _, _, level in spectra.values())
    pictures = {}
    for name, (duration, freqs, level) in spectra.items():
        figure, axis = plt.subplots(figsize=(10, 2.4))
        image = axis.imshow(level, origin="lower", aspect="auto", cmap="magma", vmin=top - DYNAMIC_RANGE_DB, vmax=top,
                            extent=(0, max(duration, 1e-3), freqs[0] / 1000, freqs[-1] / 1000),
                            interpolation="nearest")
        axis.set_ylabel("kHz")
        axis.set_xlabel("s")
        axis.set_title(name)
        figure.colorbar(image, ax=axis, label="dB", pad=0.01)
        pictures[name] = png_data_uri(figure)
    return pictures


def presence_picture(presence, title=None):
    """The presence timeline (instruments x time) of a presence JSON (or one sense of it) as a data URI."""
    plt = _pyplot()
    timeline = presence["timeline"]
    values = np.asarray(timeline["presence"], dtype=float).reshape(-1, len(CODES))
    times = np.asarray(timeline["times"], dtype=float)
    end = times[-1] + timeline["hop_s"]
    figure, axis = plt.subplots(figsize=(10, 3))
    axis.imshow(values.T, aspect="auto", cmap="Greens", vmin=0, vmax=1, interpolation="nearest",
                extent=(times[0], end, len(CODES) - 0.5, -0.5))
    axis.set_yticks(range(len(CODES)), CODES)
    axis.set_xlabel("s")
    axis.set_title(title or f"presence ({presence.get('source') or 'unknown source'})")
    return png_data_uri(figure)


def frame_strip(video, keyframes):
    """Sampled frames of ``video`` with the detector's boxes drawn, side by side, as a data URI (None if unreadable)."""
    import cv2

    capture = cv2.VideoCapture(str(video))
    frames = []
    for keyframe in keyframes:
        capture.set(cv2.CAP_PROP_POS_MSEC, 1000 * keyframe["time_s"])
        ok, image = capture.read()
        if not ok:
            continue
        for x1, y1, x2, y2, code, confidence in keyframe["boxes"]:
            cv2.rectangle(image, (int(x1), int(y1)), (int(x2), int(y2)), (40, 200, 40), 2)
            cv2.putText(image, f"{code} {confidence:.2f}", (int(x1), max(12, int(y1) - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.5, (40, 200, 40), 1)
        frames.append((keyframe["time_s"], cv2.cvtColor(image, cv2.COLOR_BGR2RGB)))
    capture.release()
    if not frames:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(frames), figsize=(2.6 * len(frames), 2.2), squeeze=False)
    for axis, (time_s, image) in zip(axes[0], frames):
        axis.imshow(image)
        axis.set_title(f"{time_s:.1f} s", fontsize=9)
        axis.axis("off")
    return png_data_uri(figure)


def write_separation_report(folder):
    """``folder/report.html`` from its ``manifest.json``, stems and ``mixture.flac``; returns its path."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as error:
        raise AvsepError(f"{folder} holds no readable manifest.json ({type(error).__name__}); nothing to report")
    rate = manifest["sample_rate"]
    files = {"mixture": folder / MIXTURE} if (folder / MIXTURE).exists() else {}
    files.update({Path(stem).stem: folder / stem for stem in manifest["stems"]})
    pictures = spectrogram_pictures(files) if files else {}
    presence = manifest["presence"]
    strip = None
    if presence.get("keyframes") and Path(manifest["input"]).exists():
        strip = frame_strip(manifest["input"], presence["keyframes"])
    body = [f"<h1>{html.escape(Path(manifest['input']).name)}</h1>",
            f"<p>{html.escape(manifest['input'])}: {manifest['duration_s']:.1f} s at {rate} Hz; "
            f"instruments separated: {html.escape(', '.join(manifest['instruments']) or 'none')}</p>"]
    doubtful = doubtful_codes([presence["clip"][code] for code in CODES], exclude=manifest["instruments"])
    if doubtful:
        body.append(f'<p class="warning">Unsure of: {named_scores(doubtful)} (clip probability below 0.5, not '
                    "separated). If one of them plays, separate again with --instruments.</p>")
    if strip:
        body += ["<h2>What the detector saw</h2>", f'<img alt="sampled frames with boxes" src="{strip}">']
    body += ["<h2>Presence used</h2>", f'<img alt="presence timeline" src="{presence_picture(presence)}">']
    for sense, what in (("video", "what the picture showed"), ("audio", "what the sound held")):
        if sense in presence.get("senses", {}):
            picture = presence_picture(presence["senses"][sense], f"{sense}: {what}")
            body.append(f'<img alt="presence from {sense}" src="{picture}">')
    body += ["<h2>Listen and look</h2>"]
    for name, picture in pictures.items():
        file = MIXTURE if name == "mixture" else f"{name}.wav"
        label = "mixture" if name == "mixture" else f"{name} ({instrument(name).name})"
        body += [f'<div class="stem"><h3>{html.escape(label)}</h3>',
                 f'<audio controls preload="none" src="{html.escape(file)}"></audio>',
                 f'<img alt="spectrogram of {html.escape(name)}" src="{picture}"></div>']
    body += ["<h2>How it was made</h2>", _table(_provenance_rows(manifest))]
    if manifest.get("warnings"):
        body += ["<h2>Warnings</h2>"] + [f'<p class="warning">{html.escape(w)}</p>' for w in manifest["warnings"]]
    return _write_page(folder / REPORT, f"Separation of {Path(manifest['input']).name}", body)


def _provenance_rows(manifest):
    model, detector = manifest["model"], manifest["presence"].get("detector") or {}
    rows = [("model", f"{Path(model['path']).name} (config sha256 {model['config_sha256']})"),
            ("presence source", manifest["presence"].get("source") or ""),
            ("post-filter", manifest.get("postfilter") or "none")]
    if manifest.get("membership"):
        rows.append(("network told", f"an instrument plays within {manifest['membership']['hold_s']:g} s of where "
                                     f"presence reached {manifest['membership']['threshold']:g}"))
    if detector:
        rows.append(("detector", f"{Path(str(detector.get('weights'))).name}, confidence {detector.get('confidence')}"))
    tagger = manifest["presence"].get("tagger")
    if tagger:
        rows.append(("instrument tagger", f"{Path(str(tagger.get('model'))).name}, {tagger.get('window_s')} s windows"))
    gain = manifest["presence"].get("unsure_gain") or manifest["presence"].get("senses", {}).get("audio", {}).get(
        "unsure_gain")
    if gain:
        rows.append(("sure of no instrument", f"the sound's presence scaled {gain:.2f}x, naming the likeliest "
                                              "instruments (audio.tagger.likeliest_when_unsure)"))
    rows += [(f"time: {name}", f"{seconds:.2f} s") for name, seconds in manifest.get("timings", {}).items()]
    return rows


def write_batch_index(out_dir, rows):
    """``out_dir/index.html``: one line per item (status, instruments, reason) linking its report."""
    out_dir = Path(out_dir)
    lines = []
    for row in sorted(rows, key=lambda r: r["item"]):
        item = html.escape(row["item"])
        has_report = (out_dir / row["item"] / REPORT).exists()
        link = f'<a href="{item}/{REPORT}">{item}</a>' if has_report else item
        lines.append(f"<tr><td>{link}</td><td>{html.escape(row['status'])}</td>"
                     f"<td>{html.escape(str(row.get('instruments', '')))}</td>"
                     f"<td>{html.escape(str(row.get('reason', '')))}</td></tr>")
    table = "<table><tr><th>item</th><th>status</th><th>instruments</th><th>reason</th></tr>" + "".join(lines) + "</table>"
    return _write_page(out_dir / "index.html", "Batch separation", [f"<h1>{len(rows)} items</h1>", table])


def write_evaluation_report(out_dir, systems, violins_png):
    """``out_dir/report.html``: mean scores per system, per-stem medians, and the violins (inline)."""
    out_dir = Path(out_dir)
    summary = [(name, *(f"{result['mean'][m]:.2f}" for m in ("SDR", "SIR", "SAR")), len(result["stems"]))
               for name, result in systems.items()]
    stems = [(name, s["piece"], s["code"], *(f"{s[m]:.2f}" for m in ("SDR", "SIR", "SAR")))
             for name, result in systems.items() for s in result["stems"]]
    violins = "data:image/png;base64," + base64.b64encode(Path(violins_png).read_bytes()).decode()
    body = ["<h1>Evaluation</h1>", "<p>museval v4, 1 s windows; per stem the median over windows with a "
            "non-silent reference; a system's score is the mean over stems.</p>",
            _table(summary, ("system", "SDR mean", "SIR mean", "SAR mean", "stems")),
            f'<img alt="violin plots of SDR, SIR and SAR" src="{violins}">', "<h2>Per stem</h2>",
            _table(stems, ("system", "piece", "instrument", "SDR", "SIR", "SAR"))]
    return _write_page(out_dir / REPORT, "Evaluation", body)


def _table(rows, header=None):
    head = "<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>" if header else ""
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{head}{cells}</table>"


def _write_page(path, title, body):
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    with atomic_path(path) as tmp:
        tmp.write_text(page)
    return Path(path)


def get_parser():
    parser = argparse.ArgumentParser(prog="python -m pipelines.report", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a finished separation folder (with manifest.json)")
    return add_debug_flag(parser)


def _run(args):
    print(write_separation_report(args.folder))
    return 0


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
