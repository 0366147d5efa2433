"""``python -m pipelines.evaluate --references DIR --estimates [NAME=]DIR ...``: BSS Eval v4 scores.

The protocol (as in ``../shared/README.md``): museval v4 with 1 s windows and hops at the
reference rate; estimates resampled to the reference rate and cut or padded to its length, no
alignment search; per stem the median over windows where the reference is not silent (its
mean power reaches ``SILENCE_DB``, -80 dB full scale: a rendered stem's rests hold residue near
-160 dB, which is silence, while a real recording's noise floor lies well above it); a
system's score is the mean over stems of those medians (the median over stems is given too).
Silence in an estimate (a missing stem, or a player switched off by presence for a while) is
scored as -120 dB noise: museval refuses an all-zero estimate, and where one estimate is all
zeros in a window it gives NaN for every stem there, which would leave the window out.
With ``--rests-below DB`` a reference window more than DB under its stem's loudest window is a
rest too (not the protocol's default): a recorded or rendered stem's rests hold its noise floor
(``data.room`` puts it 40-60 dB under the stem), which the absolute floor counts as playing, so
the stem's leakage there is scored against noise.

Folders may be laid out as
- URMP: ``NN_Title_codes/AuSep_i_code_NN_Title.wav`` (same-instrument parts summed);
- one folder per piece of ``<code>.wav`` (our ``separated/<name>/`` outputs);
- flat ``<piece>_<code>_<anything>.wav`` (``../shared/data/urmp_excerpts``).
Pieces are matched by their number (``01_Jupiter``, ``AuMix_01_...``, ``01_mix`` all are ``01``).

Writes ``OUT/scores.json`` (checked against a JSON schema), ``OUT/scores.md``,
``OUT/violins.png`` (SDR, SIR and SAR per system) and ``OUT/report.html`` (both, to open).
"""
import argparse
import multiprocessing
import re
import sys
from pathlib import Path

import jsonschema
import numpy as np

from audio.io import read_audio, resample
from common.cli import add_debug_flag, run_cli
from common.errors import AvsepError
from common.files import atomic_path, write_json
from pipelines.report import write_evaluation_report
from fusion.instruments import CODES

METRICS = ("SDR", "SIR", "SAR")
SILENCE_DB = -80.0  # a window of the reference whose mean power is below this (dB full scale) is silent
MAX_RATIO_DB = 200.0  # what a stem's median SIR / SAR reads when every window of it is infinite
_PREFIXES = ("AuMix_", "Vid_", "AuSep_")

SCORES_SCHEMA = {
    "type": "object",
    "required": ["protocol", "systems"],
    "properties": {
        "protocol": {"type": "string"},
        "systems": {"type": "object", "additionalProperties": {
            "type": "object",
            "required": ["stems", "mean", "median"],
            "properties": {
                "stems": {"type": "array", "items": {
                    "type": "object", "required": ["piece", "code", "SDR", "SIR", "SAR", "windows"],
                    "properties": {"piece": {"type": "string"}, "code": {"enum": list(CODES)},
                                   "SDR": {"type": "number"}, "SIR": {"type": "number"},
                                   "SAR": {"type": "number"}, "windows": {"type": "integer", "minimum": 1},
                                   "estimate": {"type": ["string", "null"]}}}},
                "mean": {"type": "object", "required": list(METRICS)},
                "median": {"type": "object", "required": list(METRICS)},
            }}},
    },
}


def piece_key(name):
    """The piece number of a folder or file name: ``"AuMix_01_Jupiter_vn"`` -> ``"01"``."""
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
    match = re.match(r"(\d+)", name)
    return str(int(match.group(1))).zfill(2) if match else name


def collect_stems(root):
    """``{piece: {code: [paths]}}`` from any of the supported layouts."""
    root = Path(root)
    if not root.is_dir():
        raise AvsepError(f"no such folder: {root}")
    pieces = {}
    for path in sorted(root.rglob("*.wav")):
        name = path.stem
        if name.startswith("AuSep_"):
            parts = name.split("_")
            piece, code = piece_key(path.parent.name), parts[2]
        elif name in CODES:
            piece, code = piece_key(path.parent.name if path.parent != root else root.name), name
        else:
            match = re.match(r"(\d+)_([a-z]+)_", name + "_")
            if not match or match.group(2) not in CODES:
                continue  # a mix, or a file that names no instrument
            piece, code = piece_key(match.group(1)), match.group(2)
        pieces.setdefault(piece, {}).setdefault(code, []).append(path)
    if not pieces:
        raise AvsepError(f"no stems found under {root} (AuSep_*, <code>.wav or <piece>_<code>_*.wav)")
    for piece, stems in pieces.items():  # e.g. a folder of true stems beside a folder of estimates, summed
        folders = sorted({str(path.parent) for paths in stems.values() for path in paths})
        if len(folders) > 1:
            raise AvsepError(f"piece {piece} has stems in {len(folders)} folders ({', '.join(folders[:2])}): "
                             "point at the folder of one piece set")
    return pieces


def read_summed(paths, sample_rate=None):
    """Sum of mono files, at ``sample_rate`` (None: the first file's)."""
    total, rate = None, sample_rate
    for path in paths:
        audio, rate = read_audio(path, rate, nb_channels=1)
        total = audio[0] if total is None else total[:len(audio[0])] + audio[0][:len(total)]
    return total, rate


def score_piece(job):
    """museval on one piece: ``[(code, {SDR, SIR, SAR}, windows)]`` per reference stem.

    ``job`` is ``(piece, references, estimates, rests_below)``: ``rests_below`` (dB, or None) also
    leaves out the windows that far under the stem's loudest one (:func:`playing_windows`).
    """
    piece, references, estimates, rests_below = job
    codes = sorted(references, key=CODES.index)
    refs = []
    for code in codes:
        audio, rate = read_summed(references[code])
        refs.append(audio)
    length = min(len(r) for r in refs)
    refs = np.stack([r[:length] for r in refs])
    ests = np.zeros_like(refs)
    for i, code in enumerate(codes):
        if code in estimates:
            audio, est_rate = read_summed(estimates[code])
            audio = resample(audio[None], est_rate, rate)[0][:length]
            ests[i, :len(audio)] = audio
    silent = ests == 0  # museval refuses an all-zero estimate and gives NaN for every stem in a window
    ests[silent] = np.random.default_rng(0).normal(0, 1e-6, int(silent.sum()))  # where one is: -120 dB noise
    import museval

    sdr, _, sir, sar = museval.evaluate(refs[..., None], ests[..., None], win=rate, hop=rate)
    nb_windows = sdr.shape[1]
    powers = np.array([[np.mean(r[k * rate:(k + 1) * rate] ** 2) for k in range(nb_windows)] for r in refs])
    rows = []
    for i, code in enumerate(codes):
        active = playing_windows(powers[i], rests_below) & np.isfinite(sdr[i])
        if active.any():
            medians = {name: window_median(values[i][active]) for name, values in zip(METRICS, (sdr, sir, sar))}
            rows.append((code, medians, int(active.sum()), str(estimates.get(code, [None])[0])))
    return piece, rows


def playing_windows(powers, rests_below=None):
    """Which windows of one reference stem play: ``(nb_windows,)`` bool from their mean powers.

    A window plays when its power reaches :data:`SILENCE_DB` (full scale) and, with ``rests_below``
    (dB), when it is at most that far under the stem's loudest window.
    """
    playing = powers >= 10 ** (SILENCE_DB / 10)
    if rests_below is not None and playing.any():
        playing &= powers >= powers.max() * 10 ** (-rests_below / 10)
    return playing


def window_median(values):
    """The median of one stem's window scores (dB), always finite.

    museval gives an infinite SIR (or SAR) in a window with nothing to measure: no other source
    playing there, say. Such windows count in the median; when they are most of them and the
    median is infinite, it is the median of the finite windows instead, or :data:`MAX_RATIO_DB`
    when there are none.
    """
    with np.errstate(invalid="ignore"):  # +inf and -inf together have no median
        median = float(np.median(values))
    if np.isfinite(median):
        return median
    finite = values[np.isfinite(values)]
    return float(np.median(finite if len(finite) else np.clip(values, -MAX_RATIO_DB, MAX_RATIO_DB)))


def evaluate_system(references, estimates_root, workers=1, rests_below=None):
    """Scores of one system: ``{"stems": [...], "mean": {...}, "median": {...}}``."""
    estimates = collect_stems(estimates_root)
    jobs = [(piece, refs, estimates.get(piece, {}), rests_below) for piece, refs in sorted(references.items())]
    if not any(piece in estimates for piece, _, _, _ in jobs):
        raise AvsepError(f"no piece of {estimates_root} matches a reference piece ({', '.join(sorted(references))})")
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            results = pool.map(score_piece, jobs)
    else:
        results = list(map(score_piece, jobs))
    stems = [{"piece": piece, "code": code, **medians, "windows": windows, "estimate": path}
             for piece, rows in results for code, medians, windows, path in rows]
    return {"stems": stems,
            "mean": {m: float(np.mean([s[m] for s in stems])) for m in METRICS},
            "median": {m: float(np.median([s[m] for s in stems])) for m in METRICS}}


def piece_sdr(result):
    """``{piece: mean SDR over its stems}`` of one system's scores, pieces in order."""
    pieces = sorted({s["piece"] for s in result["stems"]})
    return {p: float(np.mean([s["SDR"] for s in result["stems"] if s["piece"] == p])) for p in pieces}


def markdown_table(systems):
    """Per system: mean (and median) over stems of per-stem medians, and per-piece SDR."""
    lines = ["| system | SDR mean | SIR mean | SAR mean | SDR median | stems |", "|---|---|---|---|---|---|"]
    for name, result in systems.items():
        mean, median = result["mean"], result["median"]
        lines.append(f"| {name} | {mean['SDR']:.2f} | {mean['SIR']:.2f} | {mean['SAR']:.2f} | "
                     f"{median['SDR']:.2f} | {len(result['stems'])} |")
    pieces = sorted({s["piece"] for r in systems.values() for s in r["stems"]})
    lines += ["", "| system | " + " | ".join(f"piece {p} SDR" for p in pieces) + " |",
              "|---|" + "---|" * len(pieces)]
    for name, result in systems.items():
        by_piece = piece_sdr(result)
        lines.append(f"| {name} | " + " | ".join(f"{by_piece.get(p, np.nan):.2f}" for p in pieces) + " |")
    return "\n".join(lines) + "\n"


def violin_plot(systems, path):
    """SDR, SIR and SAR per system as violins (one panel per metric), saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(systems)
    figure, axes = plt.subplots(1, 3, figsize=(4 + 2 * len(names), 4), sharey=False)
    for axis, metric in zip(axes, METRICS):
        data = [[s[metric] for s in systems[name]["stems"]] for name in names]
        axis.violinplot(data, showmedians=True)
        axis.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right")
        axis.set_title(f"{metric} (dB)")
        axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100, format="png")
    plt.close(figure)


def evaluate(references_root, estimates, out_dir, workers=1, rests_below=None):
    """Score each ``(name, folder)`` of ``estimates`` against ``references_root``; write the reports.

    ``rests_below`` (dB, or None: the protocol's default): windows of a reference that far under its
    stem's loudest window are rests too, left out like silent ones.
    """
    references = collect_stems(references_root)
    systems = {name: evaluate_system(references, folder, workers, rests_below) for name, folder in estimates}
    rests = "" if rests_below is None else f" and at most {rests_below:g} dB under its stem's loudest window"
    report = {"protocol": "museval v4 (BSS Eval), 1 s windows and hops at the reference rate; per stem the "
                          f"median over windows with a non-silent reference (mean power >= {SILENCE_DB:g} dB "
                          f"full scale{rests}); mean over stems",
              "references": str(references_root), "systems": systems}
    jsonschema.validate(report, SCORES_SCHEMA)
    out_dir = Path(out_dir)
    write_json(out_dir / "scores.json", report)
    with atomic_path(out_dir / "scores.md") as tmp:
        tmp.write_text(markdown_table(systems))
    violin_plot(systems, out_dir / "violins.png")
    write_evaluation_report(out_dir, systems, out_dir / "violins.png")
    return report


def get_parser():
    parser = argparse.ArgumentParser(prog="python -m pipelines.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--references", required=True, type=Path, help="folder of true stems")
    parser.add_argument("--estimates", required=True, nargs="+", metavar="[NAME=]DIR",
                        help="one folder of estimates per system")
    parser.add_argument("--out", type=Path, default=Path("evaluation"), help="report folder (default: evaluation/)")
    parser.add_argument("--workers", type=int, default=1, help="pieces scored in parallel")
    parser.add_argument("--rests-below", type=float, metavar="DB",
                        help="also leave out reference windows more than DB under their stem's loudest one "
                             "(a stem's noise floor in its rests; default: only windows under -80 dB full scale)")
    return add_debug_flag(parser)


def _run(args):
    estimates = []
    for item in args.estimates:
        name, _, folder = item.rpartition("=")
        estimates.append((name or Path(folder).name, Path(folder)))
    if args.rests_below is not None and not args.rests_below > 0:
        raise AvsepError(f"--rests-below must be a positive number of dB, got {args.rests_below:g}")
    report = evaluate(args.references, estimates, args.out, args.workers, args.rests_below)
    print(markdown_table(report["systems"]), end="")
    print(f"written: {args.out / 'scores.json'}, {args.out / 'scores.md'}, {args.out / 'violins.png'}, "
          f"{args.out / 'report.html'}")
    return 0


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
