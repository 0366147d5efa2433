"""Presence from both senses: what the picture shows combined with what the sound holds. numpy only.

The picture says whether players are there, how many, and when; the sound says what they play.
Neither alone decides:

- **sound** (``audio.tagger``): a probability per instrument over time, ``a``;
- **picture** (``vision.detect_instruments``): a score per instrument, ``v``, spread over the
  instruments a detector class cannot tell apart (Open Images' Violin may be a viola, its Cello a
  double bass), and a *player* score (a person, a face, any instrument) with a count of people.

Per time step of ``hop_s``::

    fused = gate * (a + (1 - a) * PICTURE_WEIGHT * v)

``gate`` is 1 where a player was seen within ``±PLAYER_HOLD_S`` (a player scoring at least
``PLAYER_SEEN``), else 0: a player who leaves the picture turns off. An instrument the picture
shows lifts a hesitant sound (a = 0.3 and v = 0.8 gives 0.58) but cannot switch on what the sound
does not hold (a = 0.05 and v = 0.9 gives 0.48). Where more instruments pass 0.5 than the
picture shows people free to play ours (people seen less instruments seen that are not ours, a
guitar or a piano; both held over the same window), the surplus ones, weakest first, are halved:
a guitarist and a pianist on screen leave no player for the bass the sound may think it hears.
If the picture shows no player anywhere in the clip it tells nothing (a camera on the hall, a
black screen): the sound decides alone, with a warning in ``meta["warnings"]``.

The clip probability is the 80th percentile over time, as for each sense alone
(``fusion.timeline``).
"""
import numpy as np

from fusion.instruments import CODES, DETECTOR_AMBIGUITIES, index_of
from fusion.presence import Presence, nearest_rows
from fusion.timeline import CLIP_PERCENTILE, running_max

PRESENCE_SOURCES = ("both", "video", "audio")  # what may decide presence: the choices of --presence-from
# Frames per second and the most detector input size (None: the weights' own) for each source that looks: the
# picture alone must resolve time itself; beside the sound (1 s windows) it says who is in view, and
# one frame every 4 s at 480 px keeps both senses over 10x real time on 2 cores (BENCHMARKS.md).
PICTURE_SAMPLING = {"video": (1.0, None), "both": (0.25, 480)}
PICTURE_WEIGHT = 0.5
PLAYER_SEEN = 0.25
PLAYER_HOLD_S = 3.0
SURPLUS_FACTOR = 0.5


def family_support(values):
    """``values`` ``(n, K)`` with each ambiguous pair sharing its larger score (vn <-> va, vc <-> db)."""
    supported = values.copy()
    for codes in DETECTOR_AMBIGUITIES.values():
        indices = [index_of(code) for code in codes]
        supported[:, indices] = values[:, indices].max(axis=1, keepdims=True)
    return supported


def players_on_grid(video, times):
    """``(player score, people, instruments not ours)``, each ``(n,)``, of the picture at ``times``.

    Without a record of players: a player always there, nobody counted.
    """
    players = video.meta.get("players")
    if not players or len(players.get("score", ())) != len(video.times):
        return np.ones(len(times), dtype=np.float32), np.zeros(len(times), dtype=np.int64), np.zeros(len(times), np.int64)
    rows = nearest_rows(times, video.times)
    others = np.asarray(players.get("others", np.zeros(len(video.times))), dtype=np.int64)[rows]
    return (np.asarray(players["score"], dtype=np.float32)[rows], np.asarray(players["count"], dtype=np.int64)[rows],
            others)


def halve_surplus(fused, allowed):
    """Halve, per row, the instruments above 0.5 beyond ``allowed`` players of ours (weakest first; -1: unknown)."""
    fused = fused.copy()
    for row, allowed in zip(fused, np.asarray(allowed, dtype=np.int64)):
        playing = np.flatnonzero(row >= 0.5)
        if allowed >= 0 and len(playing) > allowed:
            surplus = playing[np.argsort(row[playing])][: len(playing) - allowed]
            row[surplus] *= SURPLUS_FACTOR
    return fused


def fuse(video, audio, hop_s=1.0):
    """Presence from the picture's and the sound's evidence.

    Args:
        video: :class:`Presence` from ``vision.detect_instruments.detect_video`` (probabilities,
            with ``meta["players"]``).
        audio: :class:`Presence` from ``audio.tagger.InstrumentTagger.presence``.
        hop_s: spacing of the fused timeline in seconds.

    Returns:
        :class:`Presence` with ``meta["source"] == "video+audio"``, the rule's constants in
        ``meta["fusion"]`` and each sense's clip scores and timeline in ``meta["senses"]``.
    """
    duration = max(float(video.meta.get("duration_s") or video.times[-1] + video.hop_s),
                   float(audio.meta.get("duration_s") or audio.times[-1] + audio.hop_s))
    times = np.arange(0.0, max(duration, hop_s / 2), hop_s)
    heard = audio.at(times).astype(np.float64)
    seen = family_support(video.at(times).astype(np.float64))
    player_score, people, others = players_on_grid(video, times)
    radius = int(round(PLAYER_HOLD_S / hop_s))
    gate = running_max((player_score >= PLAYER_SEEN).astype(np.float32)[:, None], radius)[:, 0]
    held_people, held_others = running_max(np.stack([people, others], axis=1).astype(np.float32), radius).T
    players_of_ours = np.where(held_people > 0, held_people - held_others, -1)  # -1: nobody counted, no limit
    warnings = []
    if not gate.any():
        gate = np.ones_like(gate)
        warnings.append("the picture shows no player anywhere: presence from the sound alone")
    fused = gate[:, None] * (heard + (1 - heard) * PICTURE_WEIGHT * seen)
    fused = halve_surplus(fused, players_of_ours).astype(np.float32)
    clip = np.percentile(fused, CLIP_PERCENTILE, axis=0).astype(np.float32)
    meta = {"source": "video+audio", "duration_s": duration, "warnings": warnings,
            "fusion": {"picture_weight": PICTURE_WEIGHT, "player_seen": PLAYER_SEEN, "player_hold_s": PLAYER_HOLD_S,
                       "surplus_factor": SURPLUS_FACTOR, "clip_percentile": CLIP_PERCENTILE},
            "senses": {name: sense_summary(sense) for name, sense in (("video", video), ("audio", audio))},
            "players": {"score": np.round(player_score, 3).tolist(), "count": people.tolist(),
                        "others": others.tolist(), "gate": gate.astype(int).tolist()}}
    for key in ("detector", "keyframes", "video", "frames_sampled", "sampling_fps"):
        if key in video.meta:
            meta[key] = video.meta[key]
    if "tagger" in audio.meta:
        meta["tagger"] = audio.meta["tagger"]
    return Presence(times, np.clip(fused, 0.0, 1.0), clip, hop_s, meta)


def sense_summary(presence):
    """One sense's scores as the fused JSON keeps them: clip per code, the timeline, and the sound's
    ``unsure_gain`` when it named the likeliest instruments (``audio.tagger.likeliest_when_unsure``)."""
    summary = {"clip": {code: round(float(v), 4) for code, v in zip(CODES, presence.clip)},
               "timeline": {"hop_s": presence.hop_s, "times": [round(float(t), 3) for t in presence.times],
                            "presence": np.round(presence.values, 3).tolist()}}
    if "unsure_gain" in presence.meta:
        summary["unsure_gain"] = presence.meta["unsure_gain"]
    return summary


