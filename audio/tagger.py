"""The instrument tagger: which of the 13 instruments the sound holds, over time.

A small convolutional network on log-mel spectrograms (``audio.features``: 16 kHz, 20 ms
frames, 64 bands) of 3-second windows; one sigmoid per instrument of the vocabulary (several
may play at once; none may, as with a piano or a guitar alone). It is fully convolutional over
time with a global pooling, so it takes any window of at least a second.

:class:`InstrumentTagger` runs a saved model over a whole recording in windows centred on every
``hop_s`` seconds (zero-padded at the ends) and returns a :class:`fusion.presence.Presence`
(``source: "audio"``). Training: ``audio.train_tagger``; a model is a ``.keras`` file and a JSON
card beside it.
"""
import itertools
from pathlib import Path

import numpy as np

from audio.backend import keras
from audio.features import NB_MELS, SAMPLE_RATE, log_mel
from audio.stream import AudioStream, StreamResampler
from common.errors import ConfigError, EmptyMediaError
from common.files import read_card
from fusion.instruments import CODES, NB_INSTRUMENTS
from fusion.presence import DEFAULT_THRESHOLD, DOUBTFUL_FROM, Presence
from fusion.timeline import aggregate

WINDOW_S = 3.0
DEFAULT_TAGGER = Path(__file__).resolve().parents[1] / "models" / "tagger.keras"
SMOOTH_S = 2.0  # the sound's timeline is smoothed less than the picture's, and not held
# When no instrument is sure (clip probability under 0.5) but the likeliest is doubtful (from 0.25), the
# instruments within this ratio of the likeliest are named: the tagger hears unfamiliar timbres faintly.
# A tagger's card may hold its own (``unsure_ratio``, chosen by ``pipelines.calibrate_tagger``); this one is
# for cards without: the shipped tagger's, chosen on the Csound validation renders (0.6-0.9: clip F1 0.362 /
# 0.347 / 0.355 / 0.354; without 0.321).
UNSURE_RATIO = 0.6


def conv_block(x, filters, pool):
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    return keras.layers.MaxPooling2D(pool)(x)


def build_tagger(filters=(16, 32, 64, 128), dense=128, dropout=0.3):
    """The tagger: ``(batch, nb_frames, NB_MELS)`` log-mel -> ``(batch, K)`` logits.

    Four conv blocks (3x3, batch norm, ReLU, 2x2 max pooling), a mean and a max over time and
    frequency, a dense layer, dropout, and K logits.
    """
    features = keras.Input((None, NB_MELS), name="log_mel")
    x = keras.layers.Reshape((-1, NB_MELS, 1))(features)
    x = keras.layers.BatchNormalization()(x)
    for width in filters:
        x = conv_block(x, width, (2, 2))
    pooled = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling2D()(x), keras.layers.GlobalMaxPooling2D()(x)])
    x = keras.layers.Dense(dense, activation="relu")(pooled)
    x = keras.layers.Dropout(dropout)(x)
    logits = keras.layers.Dense(NB_INSTRUMENTS, name="logits")(x)
    return keras.Model(features, logits, name="instrument_tagger")


def predict_probabilities(model, features, batch_size=64):
    """Sigmoid of the model's logits for ``features`` ``(n, nb_frames, 64)``: ``(n, K)`` float64."""
    logits = np.concatenate([np.asarray(model.predict_on_batch(features[i:i + batch_size]))
                             for i in range(0, len(features), batch_size)])
    return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))


class InstrumentTagger:
    """A trained tagger ready to run.

    Args:
        path: the ``.keras`` model (default ``models/tagger.keras``); its card ``.json`` beside it.
        batch_size: windows per forward pass.
        unsure_ratio: :func:`likeliest_when_unsure`'s ratio for :meth:`presence`; 0: never; None: the card's
            ``unsure_ratio``, else :data:`UNSURE_RATIO`.
    """

    def __init__(self, path=None, batch_size=32, unsure_ratio=None):
        self.path = Path(path or DEFAULT_TAGGER)
        if not self.path.is_file():
            raise ConfigError(f"no instrument tagger at {self.path}; train one (python -m pipelines.train_tagger), "
                              "or say who plays with --instruments or --presence-from video")
        try:
            self.model = keras.saving.load_model(self.path, safe_mode=True)
        except Exception as error:  # noqa: BLE001  (any unreadable file is one line)
            raise ConfigError(f"cannot load the instrument tagger {self.path}: {str(error).splitlines()[0]}") from None
        self.card = read_card(self.path.with_suffix(".json"))
        if self.card.get("vocabulary", list(CODES)) != list(CODES):
            raise ConfigError(f"tagger {self.path} was trained on another vocabulary: {self.card['vocabulary']}")
        self.batch_size = batch_size
        self.unsure_ratio = self.card.get("unsure_ratio", UNSURE_RATIO) if unsure_ratio is None else unsure_ratio
        self.window = int(self.card.get("window_s", WINDOW_S) * SAMPLE_RATE)

    def probabilities(self, blocks, hop_s=1.0):
        """Per-window instrument probabilities of a sound given in blocks.

        Windows are centred every ``hop_s`` seconds from 0 while the centre lies within the
        sound, zero-padded beyond its ends; only the samples still needed are kept.

        Args:
            blocks: mono float ``(n,)`` arrays at 16 kHz (:data:`audio.features.SAMPLE_RATE`),
                in order (one array for a whole recording).
            hop_s: seconds between window centres.

        Returns:
            ``(times (n,), probabilities (n, K) float32, nb_samples)``.
        """
        half, hop = self.window // 2, hop_s * SAMPLE_RATE
        buffer, buffer_start, nb_samples = np.zeros(half, np.float32), -half, 0  # absolute sample of buffer[0]
        windows, probabilities, index = [], [], 0

        def start(i):
            return int(round(i * hop)) - half

        for block in itertools.chain(blocks, [None]):
            finished = block is None
            if finished:  # pad the last windows with silence
                buffer = np.concatenate([buffer, np.zeros(self.window, np.float32)])
            else:
                buffer = np.concatenate([buffer, np.asarray(block, np.float32)])
                nb_samples += len(block)
            while (not finished or index * hop < nb_samples) and start(index) + self.window <= buffer_start + len(buffer):
                first = start(index) - buffer_start
                windows.append(buffer[first:first + self.window])
                index += 1
                if len(windows) == self.batch_size:
                    probabilities.append(self._predict(windows))
                    windows = []
            drop = start(index) - buffer_start
            buffer, buffer_start = buffer[max(drop, 0):], buffer_start + max(drop, 0)
        if windows:
            probabilities.append(self._predict(windows))
        times = np.arange(index) * hop_s
        return times, (np.concatenate(probabilities) if probabilities else np.zeros((0, NB_INSTRUMENTS))).astype(
            np.float32), nb_samples

    def _predict(self, windows):
        return predict_probabilities(self.model, log_mel(np.stack(windows)), self.batch_size)

    def presence(self, blocks, hop_s=1.0, meta=None):
        """:class:`Presence` of a mono 16 kHz sound in ``blocks``: the window probabilities smoothed over time,
        the likeliest instruments named when none is sure (:func:`likeliest_when_unsure`)."""
        times, probabilities, nb_samples = self.probabilities(blocks, hop_s)
        if not len(times):
            raise EmptyMediaError("no sound to tag")
        meta = {"source": "audio", "tagger": self.describe(), "duration_s": nb_samples / SAMPLE_RATE, **(meta or {})}
        heard = aggregate(times, probabilities, hop_s=hop_s, hold_s=0.0, smooth_s=SMOOTH_S, meta=meta)
        return likeliest_when_unsure(heard, self.unsure_ratio) if self.unsure_ratio else heard

    def describe(self):
        """What the presence JSON records about the tagger."""
        return {"model": str(self.path), "window_s": self.window / SAMPLE_RATE, "steps": self.card.get("steps"),
                "validation": self.card.get("validation"), "unsure_ratio": self.unsure_ratio}


def likeliest_when_unsure(presence, ratio=UNSURE_RATIO, threshold=DEFAULT_THRESHOLD, doubtful_from=DOUBTFUL_FROM):
    """``presence`` with the instruments within ``ratio`` of the likeliest named, when it is doubtful.

    When the highest clip probability lies in ``[doubtful_from, threshold)``, the timeline and the clip
    probabilities are scaled (capped at 1) so that ``ratio`` times that highest one reaches ``threshold``;
    the gain is kept in ``meta["unsure_gain"]``. Otherwise ``presence`` is returned as it is.
    """
    likeliest = float(np.max(presence.clip))
    if not doubtful_from <= likeliest < threshold:
        return presence
    gain = threshold / (ratio * likeliest) * (1 + 1e-6)  # the instrument at exactly ``ratio`` reaches the threshold
    return Presence(presence.times, np.minimum(presence.values * gain, 1.0).astype(np.float32),
                    np.minimum(presence.clip * gain, 1.0).astype(np.float32), presence.hop_s,
                    {**presence.meta, "unsure_gain": round(gain, 4)})


def tag_media(path, tagger=None, hop_s=1.0):
    """Presence heard in a media file's (first) soundtrack, decoded and tagged block by block.

    Returns:
        :class:`Presence` with ``meta["source"] == "audio"``.
    """
    tagger = tagger or InstrumentTagger()
    return tagger.presence(mono_blocks(path), hop_s, meta={"audio": str(path)})


def mono_blocks(path):
    """The soundtrack of ``path`` as mono float32 blocks at 16 kHz."""
    stream = AudioStream(path)
    resampler = StreamResampler(stream.sample_rate, SAMPLE_RATE, 1)
    for block in stream:
        yield resampler.push(block.mean(axis=0, keepdims=True))[0]
    yield resampler.push(np.zeros((1, 0), np.float32), last=True)[0]
