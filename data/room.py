"""One hall per piece: players placed on a stage, heard through room impulse responses.

URMP's stems were recorded one player at a time in one hall, so every stem of a piece goes
through the same room (pyroomacoustics' image-source model of a shoebox hall, RT60 drawn per
piece) from its own place on the stage to one microphone: one room, mild per-stem differences.
Optionally the microphone colours the sound (a gentle random EQ, the same for every stem) and
each stem gets its own noise floor (each player was recorded separately).

Everything is drawn from the ``rng`` given, so the same seed gives the same room.
"""
import numpy as np
from scipy.signal import fftconvolve

MAX_IMAGE_ORDER = 24  # caps the image-source count for long reverbs (about 0.2 s per room here)


def draw_room(rng, nb_players):
    """A hall, its players' positions and the microphone, as plain numbers (meta.json-ready)."""
    size = np.array([rng.uniform(9, 24), rng.uniform(7, 18), rng.uniform(4.5, 10)])
    rt60 = rng.uniform(0.3, 1.1)
    while sabine_shortest_rt60(size) > 0.7 * rt60:  # too big a hall for so dry a sound: make it smaller
        size *= 0.9
    stage_y = rng.uniform(1.5, 3.0)
    width = min(size[0] - 2, 1.2 * nb_players + 1)
    xs = size[0] / 2 + np.linspace(-width / 2, width / 2, nb_players) + rng.normal(0, 0.2, nb_players)
    ys = stage_y + rng.uniform(0, 1.2, nb_players)
    players = [[float(x), float(y), float(rng.uniform(1.0, 1.5))] for x, y in zip(xs, ys)]
    microphone = [float(size[0] / 2 + rng.uniform(-1, 1)), float(min(stage_y + rng.uniform(2, 7), size[1] - 1)),
                  float(rng.uniform(1.5, min(3.5, size[2] - 0.5)))]
    return {"size_m": [round(float(v), 2) for v in size], "rt60_s": round(float(rt60), 3),
            "players_m": [[round(v, 2) for v in p] for p in players], "microphone_m": [round(v, 2) for v in microphone]}


def sabine_shortest_rt60(size):
    """The shortest RT60 (s) Sabine's formula allows a shoebox of ``size`` (m), with walls absorbing all."""
    volume = np.prod(size)
    surface = 2 * (size[0] * size[1] + size[0] * size[2] + size[1] * size[2])
    return 0.161 * volume / surface


def room_impulses(room, sample_rate):
    """Impulse responses from each player to the microphone: ``(nb_players, nb_taps)`` float32.

    Each response is scaled so that its direct sound has unit gain, so levels stay those of the
    players; the delay of the direct path is kept.
    """
    import pyroomacoustics as pra

    absorption, max_order = pra.inverse_sabine(room["rt60_s"], room["size_m"])
    shoebox = pra.ShoeBox(room["size_m"], fs=sample_rate, materials=pra.Material(absorption),
                          max_order=min(max_order, MAX_IMAGE_ORDER), air_absorption=True)
    for position in room["players_m"]:
        shoebox.add_source(position)
    shoebox.add_microphone(room["microphone_m"])
    shoebox.compute_rir()
    responses = [np.asarray(r, np.float64) for r in shoebox.rir[0]]
    nb_taps = max(len(r) for r in responses)
    out = np.zeros((len(responses), nb_taps), np.float32)
    for index, (response, position) in enumerate(zip(responses, room["players_m"])):
        distance = np.linalg.norm(np.subtract(position, room["microphone_m"]))
        out[index, : len(response)] = response * (4 * np.pi * distance)  # direct path 1/(4 pi r) -> 1
    return out


def apply_room(stems, room, sample_rate):
    """``stems`` ``(nb_players, nb_samples)`` through the room, cut to the same length."""
    impulses = room_impulses(room, sample_rate)
    return fftconvolve(stems, impulses, axes=1)[:, : stems.shape[1]].astype(np.float32)


def draw_microphone_colour(rng):
    """A gentle EQ: gains in dB at log-spaced frequencies (within about +-3 dB)."""
    frequencies = np.geomspace(50, 10000, 8)
    gains = np.cumsum(rng.normal(0, 1.0, len(frequencies)))
    return {"frequencies_hz": [round(float(f), 1) for f in frequencies],
            "gains_db": [round(float(g), 2) for g in np.clip(gains - gains.mean(), -3, 3)]}


def apply_colour(stems, colour, sample_rate):
    """``stems`` ``(nb_players, nb_samples)`` through the microphone's EQ (one zero-phase filter for all)."""
    nb_samples = stems.shape[1]
    frequencies = np.fft.rfftfreq(nb_samples, 1 / sample_rate)
    gains_db = np.interp(np.log(np.maximum(frequencies, 1.0)), np.log(colour["frequencies_hz"]), colour["gains_db"])
    spectrum = np.fft.rfft(stems, axis=1) * 10 ** (gains_db / 20)
    return np.fft.irfft(spectrum, n=nb_samples, axis=1).astype(np.float32)


def add_noise_floor(stems, level_db, rng):
    """Each stem plus its own pink-ish noise ``level_db`` below the stem's RMS (stems ``(nb_players, nb_samples)``)."""
    nb_players, nb_samples = stems.shape
    white = np.fft.rfft(rng.normal(0, 1, (nb_players, nb_samples)), axis=1)
    pink = np.fft.irfft(white / np.sqrt(np.maximum(np.arange(white.shape[1]), 1)), n=nb_samples, axis=1)
    pink /= np.sqrt(np.mean(pink ** 2, axis=1, keepdims=True)) + 1e-12
    rms = np.sqrt(np.mean(stems ** 2, axis=1, keepdims=True))
    return (stems + pink * rms * 10 ** (level_db / 20)).astype(np.float32)
