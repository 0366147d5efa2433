"""Recorded notes as a timbre source: a sample folder indexed by name, and parts rendered from it.

A sample folder (e.g. the Philharmonia library) holds one recorded note per file, named
``<instrument>_<pitch>_<duration>_<dynamic>_<articulation>.<ext>`` anywhere below it::

    violin_As4_1_fortissimo_arco-normal.mp3     A#4, about 1 s, ff, ordinary bowing
    french-horn_C3_long_piano_normal.mp3        (french_horn and double_bass too)

Pitch is scientific (middle C = C4, ``s`` for sharp); durations are ``025 05 1 15 long
very-long`` (0.25 / 0.5 / 1 / 1.5 s / about 3 / about 5 s); dynamics ``pianissimo`` to
``fortissimo``. Phrases and swelling dynamics (``phrase``, ``crescendo``...) are not single
steady notes and are left out of the index.

Each note of a part is rendered from the recording that best fits it: the nearest recorded
pitch (repitched by resampling, at most :data:`MAX_REPITCH` semitones), the dynamic layer of the
note's velocity, a recorded duration that covers the note, the player's articulation (short
notes staccato, slurred notes legato with a crossfade). The recording is cut at the note's end
with an exponential release. Files are decoded once per process and kept (see
:func:`decode_stats`); one that does not decode is a warning, and the next best one is used.
"""
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from audio.io import resample
from common.errors import AvsepError
from fusion.instruments import CODES, instrument

AUDIO_SUFFIXES = (".mp3", ".wav", ".flac", ".ogg")
# folder / file names of instruments -> vocabulary codes
SAMPLE_INSTRUMENTS = {
    "violin": "vn", "viola": "va", "cello": "vc", "double-bass": "db", "double_bass": "db", "contrabass": "db",
    "flute": "fl", "oboe": "ob", "clarinet": "cl", "saxophone": "sax", "bassoon": "bn", "trumpet": "tpt",
    "french-horn": "hn", "french_horn": "hn", "horn": "hn", "trombone": "tbn", "tuba": "tba",
}
DYNAMICS = ("pianissimo", "piano", "mezzo-piano", "mezzo-forte", "forte", "fortissimo")
DURATIONS_S = {"025": 0.25, "05": 0.5, "1": 1.0, "15": 1.5, "long": 3.0, "very-long": 5.0}
# articulations by how they are used: sustained notes, short notes, slurred notes, plucked
ARTICULATION_KINDS = {
    "sustain": ("normal", "arco-normal", "vibrato", "molto-vibrato", "non-vibrato", "tenuto", "arco-tenuto",
                "arco-detache", "nonlegato", "arco-portato", "arco-au-talon", "arco-martele"),
    "short": ("staccato", "staccatissimo", "arco-staccato", "arco-spiccato"),
    "legato": ("legato", "arco-legato", "tongued-slur"),
    "pizz": ("pizz-normal",),
}
KIND_OF_ARTICULATION = {name: kind for kind, names in ARTICULATION_KINDS.items() for name in names}
NOTE_NAMES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
MAX_REPITCH = 2  # semitones
SHORT_NOTE_S = 0.3  # notes shorter than this are played short (staccato)
RELEASE_S = {"strings": 0.12, "woodwinds": 0.06, "brass": 0.08}  # time constant of the release after a note's end
LEGATO_CROSSFADE_S = 0.04
LEGATO_ATTACK_SKIP_S = 0.05  # a slurred-into note starts this far into its recording (no new attack)


@dataclass(frozen=True)
class Sample:
    """One recorded note: where it is and what its name says."""

    path: str
    code: str
    pitch: int  # MIDI number
    duration_s: float  # nominal, from the name
    dynamic: int  # index into DYNAMICS
    articulation: str


def parse_pitch(text):
    """``"As4"`` -> 70 (MIDI), ``"C4"`` -> 60; None when ``text`` is not a pitch."""
    if len(text) < 2 or text[0] not in NOTE_NAMES:
        return None
    sharp = text[1] == "s"
    octave = text[2:] if sharp else text[1:]
    if not octave.lstrip("-").isdigit():
        return None
    return 12 * (int(octave) + 1) + NOTE_NAMES[text[0]] + sharp


def recorded_phrases(folder):
    """``[(code, path)]``: the library's real musical phrases (``<instrument>_<pitch>_phrase_...``), sorted.

    The renderer cannot use them (no single pitch); the tagger hears them as real playing.
    """
    phrases = []
    for path in sorted(Path(folder).rglob("*")):
        stem = path.stem
        if path.suffix.lower() not in AUDIO_SUFFIXES or "_phrase_" not in stem:
            continue
        name = instrument_prefix(stem)
        if name:
            phrases.append((SAMPLE_INSTRUMENTS[name], path))
    return phrases


def recorded_notes(folder):
    """``[(code, path)]``: the library's single steady notes (the names :func:`parse_sample_name` reads), sorted."""
    notes = [parse_sample_name(path) for path in sorted(Path(folder).rglob("*"))
             if path.suffix.lower() in AUDIO_SUFFIXES]
    return [(note.code, Path(note.path)) for note in notes if note is not None]


def instrument_prefix(stem):
    """The instrument name a file name starts with (``"double_bass"`` of ``double_bass_A1_...``), or None."""
    return next((name for name in sorted(SAMPLE_INSTRUMENTS, key=len, reverse=True) if stem.startswith(name + "_")),
                None)


def parse_sample_name(path):
    """A :class:`Sample` from a file name, or None when the name is not a single steady note we can use."""
    stem = Path(path).stem
    name = instrument_prefix(stem)
    if name is None:
        return None
    fields = stem[len(name) + 1:].split("_")
    if len(fields) != 4:
        return None
    pitch_text, duration, dynamic, articulation = fields
    pitch = parse_pitch(pitch_text)
    if (pitch is None or duration not in DURATIONS_S or dynamic not in DYNAMICS
            or articulation not in KIND_OF_ARTICULATION):
        return None
    return Sample(str(path), SAMPLE_INSTRUMENTS[name], pitch, DURATIONS_S[duration], DYNAMICS.index(dynamic),
                  articulation)


class SampleLibrary:
    """The usable recordings under a folder, by instrument.

    Args:
        root: a folder of sample files (searched recursively).
        name: how meta.json names this source (default: the folder's name).

    Raises:
        AvsepError: when the folder does not exist or holds no usable sample.
    """

    def __init__(self, root, name=None):
        root = Path(root)
        if not root.is_dir():
            raise AvsepError(f"no such sample folder: {root}")
        samples = [parse_sample_name(p) for p in sorted(root.rglob("*")) if p.suffix.lower() in AUDIO_SUFFIXES]
        samples = [s for s in samples if s is not None]
        if not samples:
            raise AvsepError(f"no instrument samples (<instrument>_<pitch>_<duration>_<dynamic>_<articulation>"
                             f"{'/'.join(AUDIO_SUFFIXES)}) under {root}")
        self.root, self.name = root, name or root.name
        self.by_code = {code: [s for s in samples if s.code == code] for code in CODES}
        self._tables = {code: _sample_table(found) for code, found in self.by_code.items() if found}

    @property
    def codes(self):
        """Codes of the instruments this library has samples of."""
        return tuple(code for code in CODES if self.by_code[code])

    def source_name(self, code):
        """How meta.json names this timbre source for one instrument: ``philharmonia/violin``."""
        return f"{self.name}/{instrument(code).name.replace(' ', '_')}"

    def can_play(self, code, pitches):
        """Whether each MIDI pitch of ``pitches`` has a recording of ``code`` within :data:`MAX_REPITCH` semitones."""
        table = self._tables.get(code)
        if table is None:
            return False
        distance = np.abs(np.asarray(pitches, float)[:, None] - table["pitch"][None])
        return bool(np.all(distance.min(axis=1, initial=np.inf) <= MAX_REPITCH))

    def choose_style(self, code, rng):
        """A player's articulations for a whole piece: ``{note kind: preferred articulation}``."""
        available = {s.articulation for s in self.by_code[code]}
        style = {}
        for kind, names in ARTICULATION_KINDS.items():
            present = [n for n in names if n in available]
            if present:  # the ordinary one most of the time, else any other of the kind
                ordinary = present[0] if present[0] in ("normal", "arco-normal") else None
                style[kind] = ordinary if ordinary and rng.random() < 0.7 else present[rng.integers(len(present))]
        style["pizzicato"] = "pizz" in style and rng.random() < 0.05  # a plucked part, now and then
        return style

    def choose_sample(self, code, pitch, duration_s, velocity, kind, style, rng, exclude=()):
        """The best recording for one note, or None when none lies within :data:`MAX_REPITCH` semitones.

        The cost adds the pitch distance, the dynamic-layer distance, a recorded duration too short
        for the note, and an articulation other than the player's; a little noise varies the takes.
        """
        table = self._tables[code]
        dynamic = np.clip((velocity - 20) / 107 * (len(DYNAMICS) - 1), 0, len(DYNAMICS) - 1)
        cost = (np.abs(table["pitch"] - pitch) + 0.6 * np.abs(table["dynamic"] - dynamic)
                + 1.5 * np.maximum(duration_s - table["duration"], 0) + 0.05 * np.maximum(table["duration"] - duration_s, 0)
                + _articulation_cost(table["articulation"], kind, style) + rng.uniform(0, 0.3, len(table["pitch"])))
        cost[np.abs(table["pitch"] - pitch) > MAX_REPITCH] = np.inf
        for index in exclude:
            cost[index] = np.inf
        best = int(np.argmin(cost))
        return None if not np.isfinite(cost[best]) else best

    def render_part(self, code, events, sample_rate, rng, tuning_cents=0.0, style=None):
        """Render one player's notes from recordings.

        Args:
            code: the instrument.
            events: float array ``(nb_notes, 5)``: start_s, end_s, pitch, velocity, slurred (1 when the note
                is slurred into the next one).
            sample_rate: output rate in Hz.
            rng: ``numpy.random.Generator`` for take variety and per-note tuning.
            tuning_cents: the player's tuning offset.
            style: from :meth:`choose_style` (drawn from ``rng`` when None).

        Returns:
            float32 ``(nb_samples,)``, mono, ending when the last release has decayed.
        """
        style = style or self.choose_style(code, rng)
        family = instrument(code).family
        order = np.argsort(events[:, 0], kind="stable")
        events = events[order]
        slurred_into = np.zeros(len(events), bool)
        slurred_into[1:] = events[:-1, 4] > 0
        notes = []
        for (start, end, pitch, velocity, slurred), legato_start in zip(events, slurred_into):
            duration = end - start
            kind = "pizz" if style["pizzicato"] else "legato" if slurred or legato_start else (
                "short" if duration < SHORT_NOTE_S else "sustain")
            cents = tuning_cents + rng.normal(0, 3)
            audio = self._render_note(code, int(pitch), duration, velocity, kind, style, rng, cents, sample_rate,
                                      release_s=LEGATO_CROSSFADE_S if slurred else RELEASE_S[family],
                                      skip_attack=legato_start and not style["pizzicato"])
            if audio is not None:
                notes.append((int(round(start * sample_rate)), audio))
        nb_samples = max((offset + len(audio) for offset, audio in notes), default=0)
        part = np.zeros(nb_samples, np.float32)
        for offset, audio in notes:
            part[offset:offset + len(audio)] += audio
        return part

    def _render_note(self, code, pitch, duration_s, velocity, kind, style, rng, cents, sample_rate, release_s,
                     skip_attack):
        """One note: ``(nb_samples,)`` float32 including its release, or None (warned) if nothing fits."""
        tried = []
        while True:
            index = self.choose_sample(code, pitch, duration_s, velocity, kind, style, rng, exclude=tried)
            if index is None:
                warnings.warn(f"no usable {instrument(code).name} sample within {MAX_REPITCH} semitones of "
                              f"MIDI {pitch} in {self.root}; the note is left out", stacklevel=2)
                return None
            sample = self.by_code[code][index]
            recording = decoded(sample.path, sample_rate)
            if recording is not None:
                break
            tried.append(index)
        recording, detune = recording
        semitones = pitch - sample.pitch + (cents - detune) / 100
        audio = repitch(recording, semitones, sample_rate)
        if skip_attack:
            audio = fade_in(audio[int(LEGATO_ATTACK_SKIP_S * sample_rate):], LEGATO_CROSSFADE_S, sample_rate)
        return cut_with_release(audio, duration_s, release_s, sample_rate)


def check_coverage(libraries, codes=CODES):
    """A one-line error naming the instruments of ``codes`` that none of ``libraries`` has samples of."""
    missing = [code for code in codes if not any(library.by_code[code] for library in libraries)]
    if missing:
        names = ", ".join(f"{instrument(code).name} ({code})" for code in missing)
        raise AvsepError(f"no samples for {names} in {', '.join(str(library.root) for library in libraries)}")


def _sample_table(samples):
    """Arrays over one instrument's samples for vectorised costs."""
    return {"pitch": np.array([s.pitch for s in samples], float),
            "dynamic": np.array([s.dynamic for s in samples], float),
            "duration": np.array([s.duration_s for s in samples], float),
            "articulation": np.array([s.articulation for s in samples])}


def _articulation_cost(articulations, kind, style):
    """0 for the player's articulation of this note kind, 0.4 for another of the kind, more otherwise."""
    kinds = np.array([KIND_OF_ARTICULATION[a] for a in articulations])
    preferred = style.get(kind) or style.get("sustain")
    cost = np.where(articulations == preferred, 0.0, np.where(kinds == kind, 0.4, 1.2))
    if kind != "pizz":
        cost = np.where(kinds == "pizz", 50.0, cost)  # a bowed note never comes out plucked
    elif "pizz" in kinds:
        cost = np.where(kinds == "pizz", cost, 50.0)
    return cost


# --- decoding, cached per process ------------------------------------------------------------
_DECODED = {}
_DECODE_STATS = {"files": 0, "failed": 0, "seconds": 0.0, "audio_s": 0.0}


def decoded(path, sample_rate):
    """``(audio, detune_cents)`` of the recording at ``path``, or None if it does not decode.

    ``audio`` is float32 mono at ``sample_rate``, its silence before the onset and after the last
    audible frame cut; ``detune_cents`` is how far the player was from the named pitch (see
    :func:`detune_cents`; 0 for a recording that is not a named note, such as a phrase). Decoded
    once per process and kept; a failure warns once and is remembered.
    """
    key = (path, sample_rate)
    if key not in _DECODED:
        started = time.perf_counter()
        try:
            audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
            audio = audio.mean(axis=1)
            if rate != sample_rate:
                audio = resample(audio[None], rate, sample_rate)[0]
            audio = trim_silence(audio, sample_rate)
            note = parse_sample_name(path)
            _DECODED[key] = audio, detune_cents(audio, sample_rate, note.pitch) if note else 0.0
            _DECODE_STATS["audio_s"] += len(audio) / sample_rate
        except (soundfile.LibsndfileError, RuntimeError, ValueError) as error:
            warnings.warn(f"sample {path} does not decode ({str(error).splitlines()[0][:80]}); "
                          "skipped", stacklevel=3)
            _DECODED[key] = None
            _DECODE_STATS["failed"] += 1
        _DECODE_STATS["files"] += 1
        _DECODE_STATS["seconds"] += time.perf_counter() - started
    return _DECODED[key]


def decode_stats():
    """This process's decoding so far: files, failed, seconds spent, seconds of audio decoded."""
    return dict(_DECODE_STATS)


def detune_cents(audio, sample_rate, pitch, max_cents=80):
    """How many cents the recorded note lies above ``pitch`` (MIDI), by a harmonic sum; 0 when unsure.

    Real players are not exactly at A = 440 Hz (the Philharmonia saxophone is ~50 cents flat);
    rendering corrects for it so that notes sound at the score's pitch plus the humanisation drawn.
    The sum of log magnitudes at the first six harmonics is maximised over candidates within
    ``max_cents`` of the named pitch; a best candidate at the edge of that range means the
    estimate is not to be trusted, and 0 is returned.
    """
    segment = audio[int(0.05 * sample_rate): int(0.65 * sample_rate)]
    if len(segment) < 0.2 * sample_rate:
        return 0.0
    size = 1 << int(np.ceil(np.log2(sample_rate * 8)))  # ~0.12 Hz bins
    magnitude = np.log(np.abs(np.fft.rfft(segment * np.hanning(len(segment)), size)) + 1e-9)
    candidates = np.arange(-max_cents, max_cents + 1, 1.0)
    f0 = 440 * 2 ** ((pitch - 69) / 12 + candidates / 1200)
    harmonics = f0[:, None] * np.arange(1, 7)[None]
    bins = harmonics * size / sample_rate
    inside = harmonics < 0.45 * sample_rate
    score = np.where(inside, np.interp(bins, np.arange(len(magnitude)), magnitude), 0).sum(axis=1)
    best = int(np.argmax(score))
    return 0.0 if best in (0, len(candidates) - 1) else float(candidates[best])


def trim_silence(audio, sample_rate, frame_s=0.005):
    """``audio`` from just before its onset (first 5 ms frame within 20 dB of the loudest) to its last audible frame."""
    frame = max(1, int(frame_s * sample_rate))
    nb_frames = len(audio) // frame
    if nb_frames < 2:
        return audio
    rms = np.sqrt(np.mean(audio[: nb_frames * frame].reshape(nb_frames, frame) ** 2, axis=1))
    loud = np.flatnonzero(rms > rms.max() * 0.1)
    audible = np.flatnonzero(rms > rms.max() * 0.003)
    if len(loud) == 0:
        return audio
    start = max(loud[0] - 2, 0) * frame
    return audio[start:(audible[-1] + 1) * frame]


# --- signal steps ------------------------------------------------------------------------------
def repitch(audio, semitones, sample_rate):
    """``audio`` played ``semitones`` higher by resampling (shorter when higher), float32."""
    if abs(semitones) < 1e-4:
        return audio
    return resample(audio[None], sample_rate * 2.0 ** (semitones / 12), sample_rate)[0]


def fade_in(audio, seconds, sample_rate):
    """``audio`` with a raised-cosine fade-in of ``seconds``."""
    nb_samples = min(len(audio), int(seconds * sample_rate))
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, nb_samples, dtype=np.float32))
    audio = audio.copy()
    audio[:nb_samples] *= ramp
    return audio


def cut_with_release(audio, duration_s, release_s, sample_rate):
    """The first ``duration_s`` of ``audio``, then an exponential release of time constant ``release_s``.

    A recording shorter than the note is lengthened by looping its sustained middle with crossfades;
    the release lasts five time constants (-43 dB) or until the recording ends.
    """
    body = max(1, int(round(duration_s * sample_rate)))
    tail = int(5 * release_s * sample_rate)
    if len(audio) < body + tail:
        audio = loop_sustain(audio, body + tail, sample_rate)
    envelope = np.ones(body + tail, np.float32)
    envelope[body:] = np.exp(-np.arange(tail) / (release_s * sample_rate))
    return audio[: body + tail] * envelope[: len(audio)]


def loop_sustain(audio, nb_samples, sample_rate, crossfade_s=0.05):
    """``audio`` lengthened to ``nb_samples`` by repeating its middle half with crossfades.

    Very short recordings (under 0.2 s, e.g. plucked notes) decay naturally instead: they are
    returned as they are.
    """
    if len(audio) < 0.2 * sample_rate:
        return audio
    middle = audio[len(audio) // 4: 3 * len(audio) // 4]
    fade = min(int(crossfade_s * sample_rate), len(middle) // 2)
    ramp = np.linspace(0, 1, fade, dtype=np.float32)
    out = audio[: 3 * len(audio) // 4]
    while len(out) < nb_samples:
        joined = out[-fade:] * (1 - ramp) + middle[:fade] * ramp
        out = np.concatenate([out[:-fade], joined, middle[fade:]])
    return out
