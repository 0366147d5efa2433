"""``python -m pipelines.batch ROOT [--out DIR] [--address ADDR] [--workers N]``: a URMP tree on Ray Data.

Each piece folder (``NN_Title_codes``) is one item: its ``Vid_`` video when there is one
(presence from the picture and the sound as in ``separate_video``, ``--presence-from`` choosing,
or taken from the folder name with ``--labels``), else its ``AuMix_`` file with the instruments
of the folder name. Outputs go to ``OUT/<piece>/`` as
``separate_video`` writes them (each file atomic, the manifest last).

The same command runs on a laptop and on a cluster: a local Ray instance sized to the machine by
default, or the cluster at ``--address`` (``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``). On a
cluster the code is shipped with the job (Ray's ``runtime_env`` ``working_dir``: this checkout
without ``.venv``, caches and tests), so nodes need the Python environment and the media and
output paths, not this checkout. Items stream through two stages of actors
(``ActorPoolStrategy``): detection (one actor; frames to presence, on a GPU with
``--gpus-per-worker``; the detector loads only when an item is a video to look at) and separation
(``--workers`` actors sized to the CPUs, the separator loaded once each), so a cluster with a few
GPUs and many CPUs keeps both busy. Results stream back per item into
``OUT/summary.csv`` (done, skipped, failed with a one-line reason) with progress in seconds of
media. A corrupt file fails its item; a worker that crashes fails its item without a retry
(``max_task_retries=0``: a crash is rarely transient here, and each retry costs a model load)
and is restarted for the next ones (``max_restarts=-1``); ``max_errored_blocks`` lets the rest
go on. Finished items are skipped unless ``--force``. Exit code 1 if any item failed.

For tests of crash isolation, ``AVSEP_CRASH_ON_ITEM=<piece name>`` makes a worker exit abruptly
on that item.
"""
import argparse
import csv
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from common.cli import EXIT_FAILED_ITEMS, add_debug_flag, run_cli
from common.errors import AvsepError, InvalidNameError, UnknownInstrumentError, one_line
from common.ffmpeg import probe_media
from common.files import atomic_path
from fusion.evidence import PRESENCE_SOURCES
from fusion.instruments import parse_urmp_name
from pipelines.report import write_batch_index
from vision.detector import DEFAULT_WEIGHTS

ROOT = Path(__file__).resolve().parents[1]
CRASH_VARIABLE = "AVSEP_CRASH_ON_ITEM"
# what the cluster's workers do not need of the checkout (Ray uploads the rest as the job's working_dir)
WORKING_DIR_EXCLUDES = [".git", ".venv", ".cache", "runs", "separated", "evaluation", "presence", "tests", "*.egg-info",
                        "__pycache__"]
SUMMARY_FIELDS = ("item", "media", "status", "instruments", "reason", "seconds", "media_s")


@dataclass
class Item:
    """One piece to separate: its media, and the codes its name gives."""

    name: str
    media: Path
    codes: tuple
    is_video: bool
    seconds: float = 0.0  # media duration, probed once here for progress and the summary


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
            media = video or mix
            items.append(Item(folder.name, media, piece.codes, video is not None, media_seconds(media)))
    if not items:
        raise AvsepError(f"no URMP piece folders with a Vid_ or AuMix_ file under {root}")
    return items


def media_seconds(path):
    try:
        return probe_media(path).duration_s or 0.0
    except AvsepError:
        return 0.0


class DetectionWorker:
    """Stage 1, a Ray Data actor: each item's presence, from its video's picture and sound or its name.

    The detector and the tagger load the first time an item needs them (an audio-only tree loads
    neither), the detector on the GPU when the actor was given one. Missing default weights
    leave the sound alone, with a warning, as in ``separate_video``. A failure marks the row;
    stage 2 passes it on.
    """

    def __init__(self, detector, use_labels, threads, presence_from="both"):
        self.detector_weights, self.use_labels, self.threads = detector, use_labels, threads
        self.presence_from, self.detector, self.tagger = presence_from, None, None

    def _detector(self):
        """The detector, or its weights' name when they are missing (``resolve_presence`` then warns)."""
        if self.detector is None and self.presence_from != "audio":
            from fusion.evidence import PICTURE_SAMPLING
            from vision.detector import Detector
            from vision.ultralytics_offline import MissingWeightsError

            try:
                self.detector = Detector(self.detector_weights, threads=self.threads,
                                         max_imgsz=PICTURE_SAMPLING[self.presence_from][1])
            except MissingWeightsError:
                if self.presence_from == "video":
                    raise
                return self.detector_weights
        return self.detector

    def _tagger(self):
        if self.tagger is None and self.presence_from != "video":
            from audio.tagger import InstrumentTagger

            self.tagger = InstrumentTagger()
        return self.tagger

    def __call__(self, batch):
        from fusion.presence import Presence
        from pipelines.separate import resolve_presence

        presences, reasons, seconds = [], [], []
        for media, codes, is_video in zip(batch["media"], batch["codes"], batch["is_video"]):
            started, presence, reason = time.monotonic(), "", ""
            try:
                if bool(is_video) and not self.use_labels:
                    detected = resolve_presence(Path(str(media)), detector=self._detector(),
                                                presence_from=self.presence_from, tagger=self._tagger())
                else:
                    detected = Presence.constant(tuple(str(codes).split(",")), source="folder name")
                presence = json.dumps(detected.to_json())
            except Exception as error:  # noqa: BLE001  (a failure stays with its item)
                reason = f"detection failed: {one_line(error)}"
            presences.append(presence)
            reasons.append(reason)
            seconds.append(time.monotonic() - started)
        return {**batch, "presence": presences, "detection_error": reasons, "detection_s": seconds}


class SeparationWorker:
    """Stage 2, a Ray Data actor: loads the separator once, then separates items with stage 1's presence."""

    def __init__(self, out_dir, model, threads, wiener=True, nmf_blend=None, level_match=True):
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        self.out_dir, self.wiener, self.startup_error = Path(out_dir), wiener, None
        self.requested_blend, self.blends = nmf_blend, {}  # --nmf-blend (None: by presence); weight -> NmfBlend
        try:  # a worker that cannot start fails its items in the summary, never with a traceback
            self.separator = self._load_separator(model, threads, level_match)
        except Exception as error:  # noqa: BLE001
            self.startup_error = f"the worker could not start: {one_line(error)}"

    def _blend(self, presence):
        """The NMF blend for an item with this presence (``pipelines.separate.blend_weight``), loaded once."""
        from pipelines.separate import blend_weight, postfilter_blend

        weight = blend_weight(self.requested_blend, self.wiener, presence.named)
        if weight not in self.blends:
            self.blends[weight] = postfilter_blend(weight, self.wiener)
        return self.blends[weight]

    @staticmethod
    def _load_separator(model, threads, level_match):
        from audio.backend import keras
        from audio.separator import Separator

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        return Separator(model or None, level_match=level_match)

    def __call__(self, batch):
        from fusion.presence import Presence
        from pipelines.separate import separate_media

        rows = {field: [] for field in SUMMARY_FIELDS}
        for name, media, seconds, presence, detection_error, detection_s in zip(
                batch["name"], batch["media"], batch["media_s"], batch["presence"], batch["detection_error"],
                batch["detection_s"]):
            started, name = time.monotonic(), str(name)
            if os.environ.get(CRASH_VARIABLE) == name:
                os._exit(3)  # fault injection for tests: the worker dies without a word
            status, instruments, reason = "done", "", ""
            try:
                if detection_error:
                    raise AvsepError(str(detection_error))
                if self.startup_error:
                    raise AvsepError(self.startup_error)
                presence = Presence.from_text(str(presence))
                manifest = separate_media(Path(str(media)), self.out_dir / name, self.separator, presence,
                                          force=True, wiener=self.wiener, nmf_blend=self._blend(presence))
                instruments = ",".join(manifest["instruments"])
            except Exception as error:  # noqa: BLE001  (a failure never stops the batch)
                status, reason = "failed", one_line(error)
            took = time.monotonic() - started + float(detection_s)
            for field, value in zip(SUMMARY_FIELDS, (name, str(media), status, instruments, reason, f"{took:.1f}",
                                                     float(seconds))):
                rows[field].append(value)
        return rows


def start_ray(address, gpus_per_worker):
    """Connect to the cluster at ``address``, or start a local instance that stays on loopback.

    Ray 2.60 clusters use token authentication: the token is read from ``RAY_AUTH_TOKEN`` or
    ``~/.ray/auth_token`` (written by ``ray start --head``; copy it to every node and client).
    """
    if address:
        if os.environ.get("RAY_AUTH_TOKEN") or Path("~/.ray/auth_token").expanduser().exists():
            os.environ.setdefault("RAY_AUTH_MODE", "token")
    else:
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # single node: Ray then uses 127.0.0.1
    import ray

    env = {"TF_CPP_MIN_LOG_LEVEL": "2"}
    for variable in (CRASH_VARIABLE, "KERAS_BACKEND", "AVSEP_CACHE_DIR"):
        if os.environ.get(variable):
            env[variable] = os.environ[variable]
    if not gpus_per_worker:
        env["CUDA_VISIBLE_DEVICES"] = ""  # CPU-only actors must not grab a node's GPUs
    if address:  # the code travels with the job: nodes need the environment, not this checkout
        runtime_env = {"env_vars": env, "working_dir": str(ROOT), "excludes": WORKING_DIR_EXCLUDES}
    else:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        runtime_env = {"env_vars": env}
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                 runtime_env=runtime_env, **({} if address else {"num_cpus": os.cpu_count()}))
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise AvsepError(f"cannot reach a Ray cluster at {address}: {str(error).splitlines()[0]}") from None
    return ray


def run_batch(items, out_dir, model, detector, use_labels, address=None, workers=None, gpus_per_worker=0,
              progress=True, wiener=True, presence_from="both", nmf_blend=None, level_match=True):
    """Separate ``items`` on Ray; yield summary rows (dicts) as items finish, failed crashes last."""
    ray = start_ray(address, gpus_per_worker)  # before any import of ray: it reads its settings at import
    import ray.data

    try:
        total_cpus = ray.cluster_resources().get("CPU", 1)
        workers = workers or max(1, min(len(items), int(total_cpus)))
        # one detection actor beside the separation actors; fractional CPU shares, so the pools
        # always fit the cluster (asking for more than there is would hang)
        detection_cpus = min(1.0, total_cpus / (workers + 1))
        cpus_per_worker = (total_cpus - detection_cpus) / workers
        context = ray.data.DataContext.get_current()
        context.max_errored_blocks = len(items)  # a crashed item fails alone; the rest goes on
        context.enable_progress_bars = False
        dataset = ray.data.from_items([{"name": i.name, "media": str(i.media.resolve()), "codes": ",".join(i.codes),
                                        "is_video": i.is_video, "media_s": i.seconds} for i in items], override_num_blocks=len(items))
        # one item in flight per actor (Ray's default queues 2): when a worker dies, only its item fails
        presences = dataset.map_batches(
            DetectionWorker, batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=1, max_tasks_in_flight_per_actor=1),
            fn_constructor_kwargs={"detector": str(Path(detector).resolve()) if Path(detector).exists() else str(detector),
                                   "use_labels": use_labels, "presence_from": presence_from,
                                   "threads": max(1, int(detection_cpus))},
            num_cpus=detection_cpus, num_gpus=gpus_per_worker, max_restarts=-1, max_task_retries=0)
        results = presences.map_batches(
            SeparationWorker, batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=1),
            fn_constructor_kwargs={"out_dir": str(Path(out_dir).resolve()), "model": str(Path(model).resolve()) if model else "",
                                   "wiener": wiener, "nmf_blend": nmf_blend, "level_match": level_match,
                                   "threads": max(1, int(cpus_per_worker))},
            num_cpus=cpus_per_worker, max_restarts=-1, max_task_retries=0)
        seen = set()
        with tqdm(total=round(sum(i.seconds for i in items), 1), unit="s", unit_scale=True, desc="batch",
                  disable=not progress) as bar:
            for row in results.iter_rows():
                seen.add(row["item"])
                bar.update(float(row["media_s"]))
                yield {field: row[field] for field in SUMMARY_FIELDS}
        for item in items:
            if item.name not in seen:
                yield {"item": item.name, "media": str(item.media), "status": "failed", "instruments": "",
                       "reason": "the worker crashed on this item", "seconds": "",
                       "media_s": item.seconds}
    finally:
        ray.shutdown()


def write_summary(path, rows):
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def get_parser():
    parser = argparse.ArgumentParser(prog="python -m pipelines.batch", description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a URMP-layout tree")
    parser.add_argument("--out", type=Path, default=Path("separated"), help="output folder (default: separated/)")
    parser.add_argument("--address", help="Ray cluster: auto, HOST:PORT or ray://HOST:PORT (default: a local one)")
    parser.add_argument("--workers", type=int, help="actors (default: one per CPU, at most one per item)")
    parser.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs for the detection actor")
    parser.add_argument("--detector", default=DEFAULT_WEIGHTS, help="ultralytics weights for videos")
    parser.add_argument("--labels", action="store_true", help="take instruments from folder names, not the picture")
    parser.add_argument("--presence-from", choices=PRESENCE_SOURCES, default="both",
                        help="for videos without --labels: both senses (default), video or audio")
    parser.add_argument("--model", type=Path, help="a .keras separation model (default: the shipped one)")
    parser.add_argument("--force", action="store_true", help="redo finished items")
    parser.add_argument("--wiener", action=argparse.BooleanOptionalAction, default=True,
                        help="Wiener post-filter of the stems, as in separate_video (on by default)")
    parser.add_argument("--nmf-blend", type=float, metavar="WEIGHT",
                        help="NMF's share of the Wiener filter's source models, as in separate_video (0: off; "
                             "default 0.25 for items named by their folders, --labels or audio, else 0)")
    parser.add_argument("--level-match", action=argparse.BooleanOptionalAction, default=True,
                        help="scale each input to the model's training level first, as in separate_video (on)")
    return add_debug_flag(parser)


def _run(args):
    items = find_items(args.root)
    if args.workers is not None and args.workers < 1:
        raise AvsepError(f"--workers must be at least 1, got {args.workers}")
    if args.model is not None and not args.model.is_file():
        raise AvsepError(f"no model at {args.model}")
    from pipelines.separate import postfilter_blend

    postfilter_blend(args.nmf_blend, args.wiener)  # a bad weight fails here, before Ray starts
    todo = [i for i in items if args.force or not (args.out / i.name / "manifest.json").exists()]
    rows = [{"item": i.name, "media": str(i.media), "status": "skipped", "instruments": "", "reason": "",
             "seconds": "", "media_s": i.seconds} for i in items if i not in todo]
    started = time.monotonic()
    if todo:
        rows += list(run_batch(todo, args.out, args.model, args.detector, args.labels, args.address, args.workers,
                               args.gpus_per_worker, wiener=args.wiener, presence_from=args.presence_from,
                               nmf_blend=args.nmf_blend, level_match=args.level_match))
    elapsed = time.monotonic() - started
    args.out.mkdir(parents=True, exist_ok=True)
    rows.sort(key=lambda row: row["item"])
    write_summary(args.out / "summary.csv", rows)
    index = write_batch_index(args.out, rows)
    counts = {status: sum(r["status"] == status for r in rows) for status in ("done", "skipped", "failed")}
    print(f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed in {elapsed:.0f} s "
          f"({60 * counts['done'] / max(elapsed, 1e-9):.1f} items/min); summary: {args.out / 'summary.csv'}, {index}")
    for row in rows:
        if row["status"] == "failed":
            print(f"error: {row['item']}: {row['reason']}", file=sys.stderr)
    return EXIT_FAILED_ITEMS if counts["failed"] else 0


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
