"""Conditioning a network on instrument presence, and gating its outputs.

Presence is a ``(batch, K)`` vector per example, i.e. one per output window, so it may change
along a track from window to window. Four ways to condition features ``(batch, time, C)``:

- ``concat``: presence tiled over time and appended as K more channels,
- ``add``: a learned per-channel bias ``W p + b`` added,
- ``multiply``: a learned per-channel scale, ``x * (1 + W p + b)``,
- ``film``: both (Perez et al. 2018), ``x * (1 + W_g p + b_g) + W_b p + b_b``.

Scales are parametrised around 1 so that an untrained layer starts close to the identity.
The Wave-U-Net conditions at one or more places (:func:`conditioning_places`): its input, its
bottleneck, after every decoder level, or its output.
:class:`OutputGate` turns absent instruments' estimates into exact zeros.
"""
from audio.backend import keras
from keras import ops

CONDITIONING_KINDS = ("none", "concat", "add", "multiply", "film")
CONDITIONING_PLACES = ("input", "bottleneck", "decoder", "output")


def conditioning_places(condition_at, kind):
    """The places named by ``condition_at``, e.g. ``"bottleneck+decoder"`` -> ``("bottleneck", "decoder")``.

    Raises:
        ValueError: an unknown or repeated place, or ``concat`` in the decoder (appending K
            channels after every level would change the decoder's widths).
    """
    places = tuple(condition_at.split("+"))
    unknown = [place for place in places if place not in CONDITIONING_PLACES]
    if unknown or len(set(places)) != len(places):
        raise ValueError(f"condition_at must be one or more of {CONDITIONING_PLACES} joined by '+', "
                         f"got {condition_at!r}")
    if kind == "concat" and "decoder" in places:
        raise ValueError("concat conditioning cannot be placed in the decoder; use add, multiply or film")
    return places


@keras.saving.register_keras_serializable(package="avsep")
class PresenceConditioning(keras.layers.Layer):
    """Condition features on a presence vector.

    Args:
        kind: one of ``concat``, ``add``, ``multiply``, ``film``.

    Call arguments:
        features: ``(batch, time, channels)``.
        presence: ``(batch, K)``, values in [0, 1].

    Returns:
        ``(batch, time, channels)``, or ``(batch, time, channels + K)`` for ``concat``.
    """

    def __init__(self, kind, **kwargs):
        super().__init__(**kwargs)
        if kind not in CONDITIONING_KINDS[1:]:
            raise ValueError(f"conditioning kind must be one of {CONDITIONING_KINDS[1:]}, got {kind!r}")
        self.kind = kind

    def build(self, features_shape, presence_shape):
        nb_features = features_shape[-1]
        if self.kind in ("multiply", "film"):
            self.scale = keras.layers.Dense(nb_features, kernel_initializer="zeros", name="scale")
            self.scale.build(presence_shape)
        if self.kind in ("add", "film"):
            self.shift = keras.layers.Dense(nb_features, kernel_initializer="zeros", name="shift")
            self.shift.build(presence_shape)

    def call(self, features, presence):
        presence = ops.cast(presence, features.dtype)
        if self.kind == "concat":
            nb_steps = ops.shape(features)[1]
            tiled = ops.repeat(ops.expand_dims(presence, 1), nb_steps, axis=1)
            return ops.concatenate([features, tiled], axis=-1)
        if self.kind in ("multiply", "film"):
            features = features * (1.0 + ops.expand_dims(self.scale(presence), 1))
        if self.kind in ("add", "film"):
            features = features + ops.expand_dims(self.shift(presence), 1)
        return features

    def compute_output_shape(self, features_shape, presence_shape):
        if self.kind == "concat":
            return (*features_shape[:-1], features_shape[-1] + presence_shape[-1])
        return features_shape

    def get_config(self):
        config = super().get_config()
        config.update({"kind": self.kind})
        return config


@keras.saving.register_keras_serializable(package="avsep")
class OutputGate(keras.layers.Layer):
    """Zero the estimates of instruments marked absent.

    Args:
        threshold: presence at or above which an instrument counts as present.

    Call arguments:
        estimates: ``(batch, K, time, channels)``.
        presence: ``(batch, K)``.

    Returns:
        ``estimates`` with absent instruments' rows exactly 0.
    """

    def __init__(self, threshold=0.5, **kwargs):
        super().__init__(**kwargs)
        self.threshold = threshold

    def call(self, estimates, presence):
        present = ops.cast(presence >= self.threshold, estimates.dtype)
        return estimates * present[:, :, None, None]

    def compute_output_shape(self, estimates_shape, presence_shape):
        return estimates_shape

    def get_config(self):
        config = super().get_config()
        config.update({"threshold": self.threshold})
        return config
