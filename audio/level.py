"""Input level: how loud a mixture is, and the gain that brings it to the level a separator trained at.

The Wave-U-Net is not scale-equivariant (biases, leaky ReLUs, the output gate): the same music
played into it at another level separates differently (the real URMP excerpts 10 dB quieter lose
1 dB of SDR, 8 dB louder they gain 0.35; README). Recordings come at any level (the real videos in
../shared sit between -13 and -34 dBFS), while the training mixes of the shipped model sat at a
median of -21.6 dBFS. :class:`audio.separator.Separator` therefore scales each mixture to its
model's training level before the network and its stems back by the inverse gain after it.

The level is the median RMS, in dBFS, of the mono downmix's :data:`WINDOW_S`-second windows
that are not silent (above :data:`SILENCE_DB`): pauses and fades do not pull it down, and a
loud climax does not push it up.
"""
import numpy as np

from audio.stream import AudioStream

WINDOW_S = 1.0
SILENCE_DB = -60.0
MAX_GAIN_DB = 30.0  # a nearly silent file is not blown up by more than this (nor a clipped one cut)
# The level for models whose card does not state their own (``data.input_level_db``): the median
# level of configs/cpu-continue.yaml's training examples (1,260 of ~1.1 s from 80 pieces,
# non-silent ones; 10% / 90%: -29.8 / -15.7 dBFS).
DEFAULT_TRAINING_LEVEL_DB = -21.6


class LevelMeter:
    """The level of a signal that arrives in blocks ``(nb_channels, n)`` at ``sample_rate`` Hz.

    Pushing a signal whole or in blocks of any size gives the same level.
    """

    def __init__(self, sample_rate):
        self.window = max(1, round(WINDOW_S * sample_rate))
        self.powers = []  # mean power of each full window so far: one float per second of input
        self.rest = np.zeros(0, np.float64)  # the samples of the window not yet full

    def push(self, block):
        """Add the next samples, float ``(nb_channels, n)``."""
        samples = np.concatenate([self.rest, np.mean(block, axis=0, dtype=np.float64)])
        nb_full = len(samples) // self.window * self.window
        self.powers.extend(np.mean(samples[:nb_full].reshape(-1, self.window) ** 2, axis=1))
        self.rest = samples[nb_full:]

    def level_db(self):
        """The median RMS of the non-silent windows in dBFS, or None when every window is silent.

        Windows holding non-finite samples (NaN, inf) are left out.

        A last window shorter than :data:`WINDOW_S` counts only when no full window was heard
        (an input shorter than a second).
        """
        return median_loud_db(self.powers if self.powers or not len(self.rest) else [np.mean(self.rest ** 2)])


def median_loud_db(powers):
    """The median in dB of the mean ``powers`` above :data:`SILENCE_DB` (non-finite ones left out), or None."""
    powers = np.asarray(powers, np.float64)
    loud = powers[np.isfinite(powers) & (powers > 10 ** (SILENCE_DB / 10))]
    return float(10 * np.log10(np.median(loud))) if len(loud) else None


def level_db(mixture, sample_rate):
    """The level of ``mixture`` ``(nb_channels, nb_samples)`` in dBFS (:class:`LevelMeter`), or None if silent."""
    meter = LevelMeter(sample_rate)
    meter.push(mixture)
    return meter.level_db()


def media_level_db(path):
    """The level of the first audio stream of the media file ``path`` in dBFS, or None if silent.

    Decodes the file once, block by block (:class:`audio.stream.AudioStream`): memory stays flat.
    """
    stream = AudioStream(path)
    meter = LevelMeter(stream.sample_rate)
    for block in stream:
        meter.push(block)
    return meter.level_db()


def examples_level_db(mixes):
    """The median RMS in dBFS of the non-silent rows of ``mixes`` ``(nb_examples, nb_samples)``
    (training windows of about a second), or None when all are silent: a model's training level."""
    level = median_loud_db(np.mean(np.asarray(mixes, np.float64) ** 2, axis=1))
    return None if level is None else round(level, 2)


def matching_gain_db(level, target_db):
    """The gain in dB that brings ``level`` (dBFS, or None for silence: no gain) to ``target_db``,
    within +-:data:`MAX_GAIN_DB`."""
    if level is None:
        return 0.0
    return float(np.clip(target_db - level, -MAX_GAIN_DB, MAX_GAIN_DB))
