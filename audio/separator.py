"""A trained model as a tool: mixture at any rate in, one stem per present instrument out.

The model works in mono at its own rate (``model.settings["sample_rate"]``). The mixture is
downmixed, resampled to that rate, separated window by window, and each present instrument's
estimate is resampled back to the mixture's rate and cut to its exact length, so output
sample i belongs to input sample i. Only present instruments are kept in memory. With level
matching (the default), the mixture is first scaled to the level the model trained at and the
stems back by the inverse gain (:mod:`audio.level`).

Where presence is one vector for the whole input (named instruments, a clip-level label), the
network runs on windows of :data:`LONG_WINDOW` output samples, not its training windows: it is
convolutional along time, so the weights are the same and only the context is paid less often.
Where presence changes over time (a callable), the training windows keep its time resolution.
The network is compiled with XLA either way. Both measured in TRAINING.md ("The post-filter").
"""
from pathlib import Path

import numpy as np

from audio.apply import iter_separate
from audio.io import resample
from audio.level import DEFAULT_TRAINING_LEVEL_DB, level_db, matching_gain_db
from common.errors import ConfigError
from common.files import read_card
from fusion.instruments import CODES

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
DEFAULT_MODEL = MODELS_DIR / "waveunet_film.keras"
LONG_WINDOW = 2 ** 17  # output samples (~5.9 s at 22.05 kHz): ~1.1x the network's speed on 16,389-sample windows


def present_indices(presence, threshold=0.5):
    """Vocabulary indices present in a ``(K,)`` vector or anywhere in a ``(nb_times, K)`` timeline."""
    presence = np.atleast_2d(np.asarray(presence))
    return [int(i) for i in np.flatnonzero((presence >= threshold).any(axis=0))]


class Separator:
    """Load a ``.keras`` Wave-U-Net (and its JSON card, if beside it) once; separate many inputs.

    Args:
        model_path: the ``.keras`` file; default the shipped model.
        batch_size: training-length windows per model call (long windows: as many samples per call).
        level_match: scale each mixture to the model's training level (its card's
            ``data.input_level_db``, else :data:`audio.level.DEFAULT_TRAINING_LEVEL_DB`) before
            the network, and the stems back after it; False: the network hears the mixture as it is.
    """

    def __init__(self, model_path=None, batch_size=8, level_match=True):
        from audio.architectures import load_separator

        self.model_path = Path(model_path or DEFAULT_MODEL)
        if not self.model_path.is_file():
            raise ConfigError(f"no model at {self.model_path}; pass --model PATH to a .keras file")
        try:
            self.model = load_separator(self.model_path)
        except Exception as error:  # noqa: BLE001  (Keras raises many types for a bad file)
            raise ConfigError(f"cannot load model {self.model_path}: {str(error).splitlines()[0]}") from None
        self.model.jit_compile = True  # XLA: ~1.4x the network's speed under TensorFlow
        self._long_model = None
        self.card = read_card(self.model_path.with_suffix(".json"))
        self.sample_rate = self.model.settings["sample_rate"]
        self.batch_size, self.level_match = batch_size, level_match
        trained_at = (self.card.get("data") or {}).get("input_level_db")  # None: an older card, or silent data
        self.training_level_db = DEFAULT_TRAINING_LEVEL_DB if trained_at is None else trained_at

    def network_for(self, presence):
        """``(model, batch_size)`` for a presence: the long-window network for a ``(K,)`` vector
        (built on first use, the same weights), the training-window one for a callable."""
        if callable(presence):
            return self.model, self.batch_size
        if self._long_model is None:
            from audio.architectures import with_output_length

            self._long_model = with_output_length(self.model, LONG_WINDOW)
            self._long_model.jit_compile = True
        per_call = self.batch_size * self.model.output_length // self._long_model.output_length
        return self._long_model, max(1, per_call)

    def input_gain_db(self, level):
        """The gain in dB this separator gives a mixture whose level is ``level`` dBFS (None: silent)."""
        return matching_gain_db(level, self.training_level_db) if self.level_match else 0.0

    def separate_stream(self, blocks, sample_rate, presence, indices, level=None):
        """Separate a mixture that arrives in blocks; memory does not grow with its length.

        Args:
            blocks: iterable of float arrays ``(nb_channels, n)`` at ``sample_rate`` Hz, in order.
            sample_rate: the mixture's rate; the stems come out at the same rate.
            presence: ``(K,)`` vector, or a callable ``times_s (n,) -> (n, K)``.
            indices: vocabulary indices of the instruments to keep (those present anywhere).
            level: the whole mixture's level in dBFS (:func:`audio.level.media_level_db`, measured
                before: a stream cannot be looked ahead in), or None (silent, or not measured): no gain.

        Yields:
            ``{code: float32 (1, n)}``: the next samples of each kept stem, in order. Together they
            are about as long as the mixture (the resampler's rounding): cut or pad them to its
            exact length (:class:`audio.stream.BlockWriter` does).
        """
        from audio.apply import iter_separate_stream
        from audio.stream import StreamResampler, prefetch

        down = StreamResampler(sample_rate, self.sample_rate, 1)
        ups = {index: StreamResampler(self.sample_rate, sample_rate, 1) for index in indices}
        gain = np.float32(10 ** (self.input_gain_db(level) / 20))

        def at_model_rate():
            for block in blocks:
                yield down.push(np.mean(block, axis=0, keepdims=True) * gain)
            yield down.push(np.zeros((1, 0), np.float32), last=True)

        model, batch_size = self.network_for(presence)
        for _, piece in iter_separate_stream(model, prefetch(at_model_rate()), presence, batch_size):
            yield {CODES[index]: ups[index].push(piece[index] / gain) for index in indices}
        yield {CODES[index]: ups[index].push(np.zeros((1, 0), np.float32), last=True) for index in indices}

    def separate(self, mixture, sample_rate, presence, progress=False):
        """Separate the instruments marked present (at the model's level, with level matching).

        Args:
            mixture: float array ``(nb_channels, nb_samples)`` at ``sample_rate`` Hz.
            sample_rate: the mixture's rate; the stems come out at the same rate.
            presence: ``(K,)`` vector, or a callable ``times_s (n,) -> (n, K)`` for presence over time.
            progress: show a progress bar in seconds of audio.

        Returns:
            ``{code: float32 (1, nb_samples)}`` for each instrument present (in any window).
        """
        nb_samples = np.shape(mixture)[1]
        level = level_db(mixture, sample_rate) if self.level_match else None
        gain = np.float32(10 ** (self.input_gain_db(level) / 20))
        mono = resample(np.mean(mixture, axis=0, keepdims=True) * gain, sample_rate, self.sample_rate)
        if callable(presence):
            indices = present_indices(presence(np.arange(0, mono.shape[1] / self.sample_rate, 0.5) + 0.25))
        else:
            indices = present_indices(presence)
        at_model_rate = {index: np.zeros(mono.shape[1], dtype=np.float32) for index in indices}
        model, batch_size = self.network_for(presence)
        for start, piece in iter_separate(model, mono, presence, batch_size, progress):
            for index in indices:
                at_model_rate[index][start:start + piece.shape[-1]] = piece[index, 0]
        stems = {}
        for index in indices:  # free each estimate at the model rate once it is resampled back
            back = resample(at_model_rate.pop(index)[None] / gain, self.sample_rate, sample_rate)[:, :nb_samples]
            stems[CODES[index]] = np.pad(back, ((0, 0), (0, nb_samples - back.shape[1])))
        return stems
