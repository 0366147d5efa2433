"""Presence: which instruments play, over a clip and over time. numpy only.

The JSON form (``<video stem>.presence.json``)::

    {"instruments": ["vn", ...],                 # vocabulary order, K codes
     "clip": {"vn": 0.97, ...},                  # probability over the whole video
     "timeline": {"hop_s": 1.0, "times": [...],  # seconds
                  "presence": [[...K...], ...]}, # one row per time, aligned with instruments
     "detector": {...}, "frames_sampled": N, "video": "..."}

A timeline answers :meth:`Presence.at` for any times (nearest row), which is how the separator
gets one presence vector per output window.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.errors import ConfigError
from common.files import write_json
from fusion.instruments import CODES, NB_INSTRUMENTS, presence_vector

DEFAULT_THRESHOLD = 0.5
DOUBTFUL_FROM = 0.25  # clip probabilities from here to the threshold are named to the user as doubtful


def doubtful_codes(clip, exclude=(), low=DOUBTFUL_FROM, threshold=DEFAULT_THRESHOLD, limit=3):
    """``((code, clip probability), ...)`` of ``clip`` ``(K,)``: at most ``limit`` instruments, none of ``exclude``
    (those separated anyway), between ``low`` and ``threshold`` (neither found nor ruled out), the likeliest first."""
    doubtful = [(code, float(value)) for code, value in zip(CODES, clip)
                if low <= value < threshold and code not in exclude]
    return tuple(sorted(doubtful, key=lambda pair: -pair[1])[:limit])


def named_scores(pairs):
    """``"ob 0.45, va 0.39"`` for ``((code, probability), ...)``."""
    return ", ".join(f"{code} {value:.2f}" for code, value in pairs)


# meta["source"]: who said which instruments play
NAMED_SOURCES = ("labels", "folder name")  # a person: Presence.constant's sources
SENSED_SOURCES = ("audio", "video", "video+audio")  # the senses: the tagger, the detector, both


@dataclass
class Presence:
    """Instrument presence.

    Attributes:
        times: ``(nb_times,)`` seconds of the timeline rows.
        values: ``(nb_times, K)`` probabilities in [0, 1], vocabulary order.
        clip: ``(K,)`` probability that each instrument plays in the clip.
        hop_s: spacing of the timeline in seconds.
        meta: anything else to save (detector, class map, frames sampled, video, source).
    """

    times: np.ndarray
    values: np.ndarray
    clip: np.ndarray
    hop_s: float
    meta: dict = field(default_factory=dict)

    @classmethod
    def constant(cls, codes, duration_s=0.0, source="labels"):
        """Presence of fixed instruments for the whole clip (from ``--instruments`` or file names)."""
        vector = presence_vector(codes)
        return cls(np.array([0.0]), vector[None], vector, hop_s=max(duration_s, 1.0), meta={"source": source})

    @property
    def named(self):
        """Whether a person named the instruments (``--instruments``, a URMP folder's name), not the senses."""
        return self.meta.get("source") in NAMED_SOURCES

    @property
    def sensed(self):
        """Whether the senses found the instruments (the tagger, the detector or both), not a person or a file."""
        return self.meta.get("source") in SENSED_SOURCES

    def at(self, times_s, threshold=None):
        """Presence at ``times_s`` ``(n,)``: the nearest timeline row, ``(n, K)`` float32.

        With ``threshold``, hard 0/1 labels (value >= threshold).
        """
        values = self.values[nearest_rows(times_s, self.times)].astype(np.float32)
        return values if threshold is None else (values >= threshold).astype(np.float32)

    def present_codes(self, threshold=DEFAULT_THRESHOLD):
        """Codes whose clip probability reaches ``threshold``, vocabulary order."""
        return tuple(code for code, value in zip(CODES, self.clip) if value >= threshold)

    def doubtful_codes(self, exclude=(), low=DOUBTFUL_FROM, threshold=DEFAULT_THRESHOLD, limit=3):
        """:func:`doubtful_codes` of this clip's probabilities."""
        return doubtful_codes(self.clip, exclude, low, threshold, limit)

    def to_json(self):
        return {
            "instruments": list(CODES),
            "clip": {code: round(float(v), 4) for code, v in zip(CODES, self.clip)},
            "timeline": {"hop_s": self.hop_s, "times": [round(float(t), 4) for t in self.times],
                         "presence": np.round(self.values, 4).tolist()},
            **self.meta,
        }

    def save(self, path):
        """Write the JSON atomically."""
        write_json(path, self.to_json())

    @classmethod
    def load(cls, path):
        """Read a presence JSON; a malformed one is a one-line :class:`ConfigError`."""
        path = Path(path)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise ConfigError(f"no such presence file: {path}") from None
        except UnicodeDecodeError as error:
            raise ConfigError(f"presence file {path} is not valid: {error}") from None
        return cls.from_text(text, path)

    @classmethod
    def from_text(cls, text, path="<text>"):
        """Presence from the JSON text of :meth:`to_json`; ``path`` names it in errors."""
        try:
            data = json.loads(text)
            if list(data["instruments"]) != list(CODES):
                raise ConfigError(f"presence file {path} lists instruments {data['instruments']}, "
                                  f"expected the vocabulary {list(CODES)}")
            timeline = data["timeline"]
            values = np.asarray(timeline["presence"], dtype=np.float32).reshape(-1, NB_INSTRUMENTS)
            times = np.asarray(timeline["times"], dtype=np.float64)
            clip = np.array([data["clip"][code] for code in CODES], dtype=np.float32)
            hop_s = timeline["hop_s"]
            if isinstance(hop_s, bool) or not isinstance(hop_s, (int, float)):
                raise ValueError(f"hop_s must be a number, got {hop_s!r}")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeDecodeError, AttributeError) as error:
            detail = f"missing {error}" if isinstance(error, KeyError) else f"{type(error).__name__}: {error}"
            raise ConfigError(f"presence file {path} is not valid: {detail}") from None
        check_timeline(path, times, values, clip, float(hop_s))
        meta = {k: v for k, v in data.items() if k not in ("instruments", "clip", "timeline")}
        return cls(times, values, clip, float(hop_s), meta)


def nearest_rows(times_s, row_times_s):
    """For each of ``times_s`` ``(n,)``, the index of the nearest of ``row_times_s`` ``(m,)``: ``(n,)`` int."""
    times_s, row_times_s = np.asarray(times_s, dtype=np.float64), np.asarray(row_times_s, dtype=np.float64)
    return np.abs(times_s[:, None] - row_times_s[None, :]).argmin(axis=1)


def check_timeline(path, times, values, clip, hop_s):
    """One-line errors for a timeline no separation should run on."""
    if len(times) != len(values) or not len(times):
        raise ConfigError(f"presence file {path}: times and presence rows differ or are empty")
    if not np.isfinite(hop_s) or hop_s <= 0:
        raise ConfigError(f"presence file {path}: hop_s must be a positive number, got {hop_s}")
    if not np.all(np.isfinite(times)) or times[0] < 0 or np.any(np.diff(times) <= 0):
        raise ConfigError(f"presence file {path}: times must be finite, non-negative and increasing")
    for name, array in (("presence", values), ("clip", clip)):
        if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
            raise ConfigError(f"presence file {path}: {name} values must be finite and within [0, 1]")
