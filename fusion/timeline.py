"""From per-frame detections to presence over time and over the clip.

Per frame, an instrument's score is the highest confidence among the boxes of its classes.
Over time, scores go through three steps, each with a documented default:

1. **hold** (``hold_s = 2.0``): a running maximum over ±hold_s, so a player hidden for a
   second or two (a page turn, someone in front) does not vanish;
2. **smooth** (``smooth_s = 2.0``): a running mean over ±smooth_s/2, against flicker;
3. **hysteresis** for hard labels (``on = 0.5``, ``off = 0.3``): an instrument switches on
   when its smoothed score reaches ``on`` and off only when it falls below ``off``.

The clip probability of an instrument is the 80th percentile of its smoothed timeline: an
instrument seen in at least a fifth of the video counts with (about) its confidence there.

What the separator is told is not the timeline itself (:func:`membership`): the network learned
presence as who is in the ensemble, resting or not, so an instrument the senses found is
conditioned for ``MEMBERSHIP_HOLD_S`` either side of every row where it reached the threshold,
and a player's rests and the senses' doubts within a phrase do not cut its stem.
"""
import numpy as np

from fusion.presence import Presence

HOLD_S = 2.0
SMOOTH_S = 2.0
ON_THRESHOLD = 0.5
OFF_THRESHOLD = 0.3
CLIP_PERCENTILE = 80
MEMBERSHIP_HOLD_S = 15.0  # on Csound renders (validation), 0 / 5 / 15 s gave 0.0 / 0.3 / 0.4 dB with heard presence


def running_max(values, radius):
    """Max over ``[t - radius, t + radius]`` rows of ``values`` ``(nb_times, K)``."""
    padded = np.pad(values, ((radius, radius), (0, 0)), mode="edge")
    return np.max(np.stack([padded[i:i + len(values)] for i in range(2 * radius + 1)]), axis=0)


def running_mean(values, radius):
    """Mean over ``[t - radius, t + radius]`` rows, edges repeated."""
    padded = np.pad(values, ((radius, radius), (0, 0)), mode="edge")
    return np.mean(np.stack([padded[i:i + len(values)] for i in range(2 * radius + 1)]), axis=0)


def hysteresis(values, on=ON_THRESHOLD, off=OFF_THRESHOLD):
    """Hard labels ``(nb_times, K)`` float32: on at ``>= on``, off again only below ``off``."""
    labels = np.zeros_like(values, dtype=np.float32)
    state = np.zeros(values.shape[1], dtype=bool)
    for t, row in enumerate(values):
        state = np.where(state, row >= off, row >= on)
        labels[t] = state
    return labels


def aggregate(times, scores, hop_s, threshold=None, hold_s=HOLD_S, smooth_s=SMOOTH_S, meta=None):
    """Build :class:`fusion.presence.Presence` from per-frame scores.

    Args:
        times: ``(nb_frames,)`` seconds of the sampled frames, evenly spaced by ``hop_s``.
        scores: ``(nb_frames, K)`` highest confidence per instrument per frame (0 when unseen).
        hop_s: seconds between sampled frames.
        threshold: when given, the timeline holds hard 0/1 labels (hysteresis between
            ``threshold`` and ``0.6 * threshold``) instead of probabilities.
        meta: extra fields for the JSON (detector, frames sampled...).
    """
    scores = np.asarray(scores, dtype=np.float32)
    held = running_max(scores, int(round(hold_s / hop_s)))
    smoothed = running_mean(held, int(round(smooth_s / 2 / hop_s)))
    clip = np.percentile(smoothed, CLIP_PERCENTILE, axis=0).astype(np.float32)
    meta = dict(meta or {})
    meta["aggregation"] = {"hold_s": hold_s, "smooth_s": smooth_s, "clip_percentile": CLIP_PERCENTILE,
                           "threshold": threshold}
    if threshold is not None:
        smoothed = hysteresis(smoothed, on=threshold, off=0.6 * threshold)
        clip = (clip >= threshold).astype(np.float32)
    return Presence(np.asarray(times, dtype=np.float64), smoothed, clip, hop_s, meta)


def membership(presence, hold_s=MEMBERSHIP_HOLD_S, threshold=ON_THRESHOLD):
    """Who the separator is told plays: ``presence`` with hard 0/1 rows, an instrument on wherever
    it reached ``threshold`` within ``hold_s`` seconds (either side); same times and clip."""
    playing = (np.asarray(presence.values) >= threshold).astype(np.float32)
    held = running_max(playing, int(round(hold_s / presence.hop_s)))
    meta = {**presence.meta, "membership": {"hold_s": hold_s, "threshold": threshold}}
    return Presence(presence.times, held, presence.clip, presence.hop_s, meta)
