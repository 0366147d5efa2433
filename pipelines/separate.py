"""The separation job as a library: media in, one WAV per present instrument out.

``separate_media`` is what ``python -m pipelines.separate_video`` and ``separate_audio`` run:

1. get presence: hand-given codes, a presence JSON, or the evidence of the senses: the detector
   on the video's frames, the instrument tagger on the sound, or both fused (``fusion.evidence``);
2. measure the soundtrack's level in a first decoding pass (``audio.level``: the separator
   scales the mixture to its model's training level and the stems back); decode it again block
   by block from ffmpeg's pipe (``audio.stream``), resample each
   block to the model's rate, separate window by window (what the senses found told to the
   network as ensemble membership, ``fusion.timeline.membership``) and write each present instrument's
   stem as it comes (``OUT/<code>.wav``, the input's rate and exact length, aligned), and the
   mixture (``OUT/mixture.flac``): memory does not grow with the length. By default the stems are
   re-estimated on the way by a Wiener filter, each 15 s block in a thread beside the network as
   soon as the network has given it (``audio.postfilter``; the stems then take the mixture's
   channels: stereo in, stereo stems out; where a person named the instruments, a quarter of the
   filter's source models is supervised NMF's stems, ``blend_weight``);
3. optionally write ``OUT/<code>.mp4`` (the original picture with that stem as sound);
4. write ``OUT/manifest.json`` and ``OUT/report.html`` (:mod:`pipelines.report`) last, all in a
   staging folder published in one step (:mod:`pipelines.output_folder`).
"""
import hashlib
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

from tqdm import tqdm

from audio.io import zero_non_finite
from audio.level import media_level_db
from audio.nmf import DEFAULT_DICTIONARIES
from audio.separator import present_indices
from audio.stream import AudioStream
from common.errors import AvsepError, NoVideoStreamError, UndecodableMediaError
from common.ffmpeg import ffmpeg_error_line, ffmpeg_exe, picture_duration_s, probe_media
from common.files import atomic_path, staging_folder, write_json
from fusion.evidence import PICTURE_SAMPLING, PRESENCE_SOURCES
from fusion.instruments import CODES, parse_codes
from fusion.presence import DEFAULT_THRESHOLD, Presence
from fusion.timeline import membership
from pipelines.output_folder import MANIFEST, check_output, publish
from pipelines.report import MIXTURE, REPORT, write_separation_report

NAMED_BLEND = 0.25  # --nmf-blend's default when the instruments are named: every held-out set up (TRAINING.md)
MAX_SHORTFALL_S = 1.0  # decoded sound may end this much before the container's stated duration


def resolve_presence(media, instruments=None, presence_file=None, detector=None, fps=None, presence_from="both",
                     tagger=None, imgsz=None):
    """Presence from ``--instruments``, ``--presence FILE``, or the senses (in that order).

    Args:
        media: the input file.
        instruments: ``"vn,vc"`` or None.
        presence_file: a presence JSON or None.
        detector: a :class:`vision.detector.Detector` or weights path, for the picture.
        fps, imgsz: frames sampled per second and detector input size; None: the defaults of
            ``fusion.evidence.PICTURE_SAMPLING`` for ``presence_from`` (sparser, and at most 480 px,
            with the sound beside the picture, whose timeline carries the detail).
        presence_from: ``"both"`` (picture and sound fused, ``fusion.evidence``), ``"video"``
            (the detector alone) or ``"audio"`` (the tagger alone). With ``"both"``, a file without
            a picture or a detector whose weights are missing leaves the sound alone, with a warning
            (kept in ``meta["warnings"]``).
        tagger: an :class:`audio.tagger.InstrumentTagger` or model path (default: the shipped one).
    """
    if instruments is not None:  # an empty list is an error, not a cue to detect
        return Presence.constant(parse_codes(instruments), source="labels")
    if presence_file:
        presence = Presence.load(presence_file)
        presence.meta["source"] = f"presence file {presence_file}"
        return presence
    if presence_from not in PRESENCE_SOURCES:
        raise AvsepError(f"presence from {presence_from!r}: choose one of {', '.join(PRESENCE_SOURCES)}")
    warnings, seen = [], None
    if presence_from == "video":
        return presence_from_picture(media, detector, fps or PICTURE_SAMPLING["video"][0], imgsz,
                                     None if imgsz else PICTURE_SAMPLING["video"][1], required=True, warnings=warnings)
    from audio.tagger import InstrumentTagger, tag_media

    tagger = tagger if isinstance(tagger, InstrumentTagger) else InstrumentTagger(tagger)
    with ThreadPoolExecutor(max_workers=1) as pool:  # the sound is tagged while the picture is looked at
        hearing = pool.submit(tag_media, media, tagger)
        if presence_from == "both":
            default_fps, max_imgsz = PICTURE_SAMPLING["both"]
            seen = presence_from_picture(media, detector, fps or default_fps, imgsz, None if imgsz else max_imgsz,
                                         required=False, warnings=warnings)
        heard = hearing.result()
    if seen is None:
        presence = heard
    else:
        from fusion.evidence import fuse

        presence = fuse(seen, heard)
    own = presence.meta.get("warnings", [])
    for warning in own:
        print(f"warning: {media}: {warning}", file=sys.stderr)
    presence.meta["warnings"] = warnings + own
    return presence


def presence_from_picture(media, detector, fps, imgsz, max_imgsz, required, warnings):
    """The detector's presence, or None (with a warning appended) when the picture cannot be had and is not ``required``."""
    from vision.detector import DEFAULT_WEIGHTS
    from vision.ultralytics_offline import MissingWeightsError

    if not probe_media(media).has_video:
        if required:
            raise NoVideoStreamError(f"no video stream in {media} to detect instruments in; give --instruments")
        warnings.append(f"{media} has no picture: presence from the sound alone")
    else:
        from vision.detect_instruments import detect_video
        from vision.detector import Detector

        try:
            detector = detector if isinstance(detector, Detector) else Detector(detector or DEFAULT_WEIGHTS,
                                                                                imgsz=imgsz, max_imgsz=max_imgsz)
        except MissingWeightsError as error:
            if required:
                raise
            warnings.append(f"{error}; presence from the sound alone")
        else:
            return detect_video(media, detector, fps=fps)
    print(f"warning: {warnings[-1]}", file=sys.stderr)
    return None


def model_fingerprint(separator):
    """Name and config hash of the model, for the manifest."""
    digest = hashlib.sha256(separator.model.config_json().encode()).hexdigest()[:12]
    return {"path": str(separator.model_path), "config_sha256": digest, "config": separator.model.settings}


def write_stem_video(video, stem_wav, out_path):
    """``out_path``: the picture of ``video`` (copied, not re-encoded) with ``stem_wav`` as its sound."""
    with atomic_path(out_path) as tmp:
        process = subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(video),
                                  "-i", str(stem_wav), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
                                  "-c:a", "aac", "-b:a", "192k", "-shortest", "-f", "mp4", str(tmp)],
                                 capture_output=True)
        if process.returncode != 0:
            raise AvsepError(f"cannot write {out_path}: {ffmpeg_error_line(process.stderr)}")


def check_decoded_length(media, stated, nb_samples, sample_rate, allow_partial=False, has_video=False):
    """A one-line error (or, with ``allow_partial``, a warning returned) when decoding stopped short.

    A file cut off after its header (a partial download) decodes only the bytes that are there;
    the container still states the whole duration (``stated``, seconds, from :func:`probe_media`).
    A shortfall over :data:`MAX_SHORTFALL_S` counts, unless the file's picture runs its whole
    duration: then its soundtrack simply ends before the picture (common in real videos), and a
    warning says so. MP3 files are not checked: their stated duration is often an estimate from
    the bit rate.
    """
    if Path(media).suffix.lower() == ".mp3":
        return []
    decoded = nb_samples / sample_rate
    if not stated or stated - decoded <= MAX_SHORTFALL_S:
        return []
    picture = picture_duration_s(media) if has_video else None
    if picture is not None and stated - picture <= MAX_SHORTFALL_S:
        return [f"{media}: the sound ends {stated - decoded:.1f} s before the picture; the stems are as long as the sound"]
    message = f"{media} states {stated:.1f} s but only {decoded:.1f} s of sound decode (a truncated file?)"
    if not allow_partial:
        raise UndecodableMediaError(f"{message}; pass --allow-partial to separate what is there")
    return [message]


def decode_and_separate(stream, separator, presence, indices, folder, duration=None, progress=False, level=None,
                        wiener=False, nmf_blend=None):
    """Decode ``stream`` block by block into ``folder``: ``mixture.flac`` and ``<code>.wav`` per index.

    ``presence`` is what the network is told in each window (:func:`conditioning`); ``duration``
    (seconds, if known) sizes the progress bar; ``level`` is the whole input's level in dBFS for
    the separator's level matching (None: no gain). With ``wiener`` and two stems or more, the
    stems are Wiener-filtered as they come (:class:`audio.postfilter.StreamFilter`, with
    ``nmf_blend``) and have the mixture's channels; else they are the network's, mono.

    Non-finite input samples are set to 0 on the way; returns how many there were. Every file
    ends exactly as long as the decoded input.
    """
    from audio.postfilter import StreamFilter
    from audio.stream import BlockWriter

    sample_rate, nb_bad = stream.sample_rate, 0
    codes = [CODES[i] for i in indices]
    filtering = wiener and len(codes) >= 2
    mixture_writer = BlockWriter(folder / MIXTURE, sample_rate, stream.nb_channels)
    writers = {code: BlockWriter(folder / f"{code}.wav", sample_rate, stream.nb_channels if filtering else 1)
               for code in codes}

    def write(stems):
        for code, block in stems.items():
            writers[code].write(block)

    stems_filter = StreamFilter(sample_rate, codes, write, blend=nmf_blend) if filtering else nullcontext()

    def decoded():
        nonlocal nb_bad
        for block in stream:
            block, bad = zero_non_finite(block)
            nb_bad += bad
            mixture_writer.write(block)
            if filtering:
                stems_filter.add_mixture(block)
            yield block

    with tqdm(total=round(duration, 2) if duration else None, unit="s", unit_scale=True, disable=not progress,
              desc="separating", leave=False) as bar, stems_filter:
        if writers:
            for pieces in separator.separate_stream(decoded(), sample_rate, window_presence(presence), indices, level):
                if filtering:
                    stems_filter.add_stems(pieces)
                else:
                    write(pieces)
                advance(bar, next(iter(pieces.values())).shape[1] / sample_rate)
        else:
            for block in decoded():
                advance(bar, block.shape[1] / sample_rate)
        if filtering:
            stems_filter.finish(stream.nb_samples)
    for writer in (mixture_writer, *writers.values()):
        writer.finish(stream.nb_samples)
    return nb_bad


def conditioning(presence):
    """The presence the network is told: from the senses, each instrument held over its membership
    (:func:`fusion.timeline.membership`); labels and presence files exactly as given."""
    return membership(presence) if presence.sensed else presence


def window_presence(presence):
    """What the separator is told per window, as hard 0/1 labels: one ``(K,)`` vector where every row
    of the timeline says the same (named instruments, a held membership), so the network may run on
    long windows (:class:`audio.separator.Separator`); else a callable of window times."""
    rows = presence.at(presence.times, threshold=DEFAULT_THRESHOLD)
    if (rows == rows[0]).all():
        return rows[0]
    return lambda times: presence.at(times, threshold=DEFAULT_THRESHOLD)


def advance(bar, seconds):
    """Move a progress bar in seconds of media, never past its total (a probed, rounded duration)."""
    bar.update(round(min(seconds, bar.total - bar.n) if bar.total else seconds, 2))


def blend_weight(requested, wiener, named):
    """NMF's share of the Wiener filter's source models for one input: ``requested`` (``--nmf-blend``)
    when given, else :data:`NAMED_BLEND` where a person named the instruments and the filter is on,
    else 0. NMF shares the mixture among the instruments it is told of, so it helps when they are
    right and costs when a sense named them wrongly (TRAINING.md, "The post-filter")."""
    if requested is not None:
        return requested
    return NAMED_BLEND if wiener and named else 0.0


def postfilter_blend(weight, wiener, dictionaries=DEFAULT_DICTIONARIES):
    """The :class:`audio.postfilter.NmfBlend` that ``--nmf-blend`` asks for, or None; a one-line error
    for a weight out of range, missing dictionaries, or no Wiener filter to feed."""
    if not weight:
        return None
    if not wiener:
        raise AvsepError("--nmf-blend mixes NMF into the Wiener filter's source models: it needs --wiener")
    from audio.postfilter import NmfBlend

    return NmfBlend(weight, dictionaries)


def postfilter_description(wiener, nmf_blend):
    """What the manifest says of the post-filter: None without one."""
    if not wiener:
        return None
    return "wiener (norbert soft masks)" + (f", {nmf_blend}" if nmf_blend else "")


def separate_media(media, out_dir, separator, presence=None, videos=False, force=False, progress=False,
                   allow_partial=False, wiener=False, nmf_blend=None):
    """Separate one media file into ``out_dir``, published in one step (see :mod:`pipelines.output_folder`).

    Args:
        media: audio or video file.
        out_dir: output folder (created).
        separator: an :class:`audio.separator.Separator`.
        presence: :class:`fusion.presence.Presence` (see :func:`resolve_presence`).
        videos: also write ``<code>.mp4`` with the original picture.
        force: replace the files of an earlier result.
        allow_partial: separate a file that decodes shorter than it says, with a warning.
        wiener: re-estimate the stems with a Wiener filter of the mixture (:mod:`audio.postfilter`).
        nmf_blend: an :class:`audio.postfilter.NmfBlend` to mix into the filter's source models, or None.

    Returns:
        the manifest dict (also written to ``out_dir/manifest.json``).
    """
    out_dir = Path(out_dir)
    check_output(out_dir, force)
    info = probe_media(media)
    if videos and not info.has_video:
        raise NoVideoStreamError(f"--videos needs a video, and {media} has no picture")
    timings, started = {}, time.monotonic()
    indices = present_indices(presence.values, DEFAULT_THRESHOLD)
    codes = [CODES[i] for i in indices]
    level = media_level_db(media) if separator.level_match and indices else None
    stream = AudioStream(media)
    sample_rate = stream.sample_rate
    with staging_folder(out_dir) as staging:
        told = conditioning(presence)
        nb_bad = decode_and_separate(stream, separator, told, indices, staging, info.duration_s, progress, level,
                                     wiener, nmf_blend)
        nb_samples = stream.nb_samples
        warnings = check_decoded_length(media, info.duration_s, nb_samples, sample_rate, allow_partial, info.has_video)
        warnings += [f"{media}: {nb_bad} non-finite input samples (NaN or inf) were set to 0"] if nb_bad else []
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        warnings = presence.meta.get("warnings", []) + warnings  # the presence's own were printed when found
        timings["separate_s"] = time.monotonic() - started
        started = time.monotonic()
        if videos:
            for code in codes:
                write_stem_video(media, staging / f"{code}.wav", staging / f"{code}.mp4")
        timings["write_s"] = time.monotonic() - started
        manifest = {
            "input": str(media), "sample_rate": sample_rate, "nb_samples": int(nb_samples),
            "duration_s": nb_samples / sample_rate, "stems": sorted(f"{code}.wav" for code in codes),
            "files": sorted([p.name for p in staging.iterdir()] + [MANIFEST, REPORT]),
            "instruments": codes, "presence": {"source": presence.meta.get("source"), **presence.to_json()},
            "membership": told.meta.get("membership"),
            "model": model_fingerprint(separator), "postfilter": postfilter_description(wiener, nmf_blend),
            "input_level": {"level_dbfs": None if level is None else round(level, 2),
                            "gain_db": round(separator.input_gain_db(level), 2)},
            "timings": {k: round(v, 3) for k, v in timings.items()},
            "warnings": warnings,
        }
        write_json(staging / MANIFEST, manifest)
        write_separation_report(staging)
        publish(staging, out_dir)
    return manifest
