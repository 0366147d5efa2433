"""The expanded, conditioned Wave-U-Net (Stoller et al. 2018), in Keras 3 with ``keras.ops``.

Valid 1-D convolutions, decimation by 2 on the way down, linear interpolation on the way up,
crop-and-concat skips; one output per vocabulary instrument (K = 13), conditioned on the
presence vector (``fusion.conditioning``) and gated so absent instruments are exact silence.

Because convolutions are valid, the output is shorter than the input: an input of
``input_length`` samples yields the middle ``output_length`` samples, with
``context = (input_length - output_length) // 2`` samples of context on each side.
:func:`waveunet_lengths` derives both from the requested output length.

Inputs: ``mix`` ``(batch, input_length, nb_channels)`` and ``presence`` ``(batch, K)``.
Output: ``(batch, K, output_length, nb_channels)``, at ``sample_rate`` Hz.
"""
import json

from audio.backend import keras
from fusion.conditioning import CONDITIONING_KINDS, OutputGate, PresenceConditioning, conditioning_places
from fusion.instruments import NB_INSTRUMENTS
from keras import ops


def waveunet_lengths(output_length, nb_levels, kernel_size_down, kernel_size_up):
    """Smallest valid ``(input_length, output_length)`` with an output of at least ``output_length``.

    Walks from a bottleneck of ``b`` samples up through the decoder (upsample ``n -> 2n-1``,
    convolve ``n -> n - k_up + 1``) and down through the encoder in reverse
    (``n -> 2n - 1 + k_down - 1``), for the smallest ``b`` that is long enough.
    """
    bottleneck = 1
    while True:
        decoded = bottleneck
        for _ in range(nb_levels):
            decoded = 2 * decoded - 1 - (kernel_size_up - 1)
        if decoded >= output_length and decoded > 0:
            encoded = bottleneck + kernel_size_down - 1
            for _ in range(nb_levels):
                encoded = 2 * encoded - 1 + kernel_size_down - 1
            return encoded, decoded
        bottleneck += 1


@keras.saving.register_keras_serializable(package="avsep")
class Decimate(keras.layers.Layer):
    """Keep every second sample: ``(batch, 2n - 1, C)`` -> ``(batch, n, C)``."""

    def call(self, inputs):
        return inputs[:, ::2, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], (input_shape[1] + 1) // 2, input_shape[2])


@keras.saving.register_keras_serializable(package="avsep")
class LinearUpsample(keras.layers.Layer):
    """Insert the mean of each pair of neighbours: ``(batch, n, C)`` -> ``(batch, 2n - 1, C)``."""

    def call(self, inputs):
        nb_steps, nb_features = inputs.shape[1], inputs.shape[2]
        left, right = inputs[:, :-1, :], inputs[:, 1:, :]
        pairs = ops.stack([left, (left + right) * 0.5], axis=2)
        interleaved = ops.reshape(pairs, (-1, 2 * (nb_steps - 1), nb_features))
        return ops.concatenate([interleaved, inputs[:, -1:, :]], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * input_shape[1] - 1, input_shape[2])


@keras.saving.register_keras_serializable(package="avsep")
class CenterCrop(keras.layers.Layer):
    """Crop the time axis to ``length`` samples, equally from both ends.

    Args:
        length: samples to keep; the surplus must be even so the crop stays centred.
    """

    def __init__(self, length, **kwargs):
        super().__init__(**kwargs)
        self.length = length

    def call(self, inputs):
        surplus = inputs.shape[1] - self.length
        if surplus < 0 or surplus % 2:
            raise ValueError(f"cannot centre-crop {inputs.shape[1]} samples to {self.length}")
        start = surplus // 2
        return inputs[:, start:start + self.length, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.length, input_shape[2])

    def get_config(self):
        config = super().get_config()
        config.update({"length": self.length})
        return config


@keras.saving.register_keras_serializable(package="avsep")
class WaveUNet(keras.Model):
    """The expanded Wave-U-Net with presence conditioning.

    Args:
        output_length: wanted output samples per window; rounded up to a valid length.
        nb_levels: down/up-sampling levels (12 in the paper).
        nb_filters: extra filters per level: level i has ``nb_filters * (i + 1)`` (24 in the paper).
        kernel_size_down, kernel_size_up: convolution widths (15 and 5 in the paper).
        nb_channels: audio channels in and out (1: mono).
        nb_sources: outputs, one per vocabulary instrument.
        sample_rate: the rate the weights expect, in Hz (stored, not used in the graph).
        output_type: ``direct`` (each source by tanh) or ``difference`` (the last source is
            the mix minus the others, as in the paper).
        conditioning: one of ``none``, ``concat``, ``add``, ``multiply``, ``film``.
        condition_at: ``input``, ``bottleneck``, ``decoder`` (after every decoder level) or
            ``output``, or several joined by ``+`` (``"bottleneck+decoder"``).
        gate_output: zero the estimates of absent instruments.
        gate_threshold: presence at or above which an instrument is present.

    Call arguments:
        ``{"mix": (batch, input_length, nb_channels), "presence": (batch, nb_sources)}``.

    Returns:
        ``(batch, nb_sources, output_length, nb_channels)``.

    Example:
        >>> model = WaveUNet(output_length=1024, nb_levels=4, nb_filters=8)
        >>> model.input_length, model.output_length
    """

    def __init__(self, output_length=16389, nb_levels=12, nb_filters=24, kernel_size_down=15, kernel_size_up=5,
                 nb_channels=1, nb_sources=NB_INSTRUMENTS, sample_rate=22050, output_type="direct",
                 conditioning="film", condition_at="bottleneck", gate_output=True, gate_threshold=0.5, **kwargs):
        if conditioning not in CONDITIONING_KINDS:
            raise ValueError(f"conditioning must be one of {CONDITIONING_KINDS}, got {conditioning!r}")
        places = conditioning_places(condition_at, conditioning)
        if output_type not in ("direct", "difference"):
            raise ValueError(f"output_type must be 'direct' or 'difference', got {output_type!r}")
        input_length, valid_output_length = waveunet_lengths(output_length, nb_levels, kernel_size_down,
                                                             kernel_size_up)

        def condition(features, place, name=None):
            if conditioning == "none" or place not in places:
                return features
            return PresenceConditioning(conditioning, name=name or f"condition_{place}")(features, presence)

        def conv(features, nb_out, width, name):
            convolved = keras.layers.Conv1D(nb_out, width, padding="valid", name=name)(features)
            return keras.layers.LeakyReLU(negative_slope=0.2, name=f"{name}_act")(convolved)

        # === Inputs ===
        mix = keras.Input((input_length, nb_channels), name="mix")
        presence = keras.Input((nb_sources,), name="presence")

        # === Encoder ===
        features = condition(mix, "input")
        skips = []
        for level in range(nb_levels):
            features = conv(features, nb_filters * (level + 1), kernel_size_down, f"down_{level}")
            skips.append(features)
            features = Decimate(name=f"decimate_{level}")(features)

        # === Bottleneck ===
        features = conv(features, nb_filters * (nb_levels + 1), kernel_size_down, "bottleneck")
        features = condition(features, "bottleneck")

        # === Decoder ===
        for level in reversed(range(nb_levels)):
            features = LinearUpsample(name=f"upsample_{level}")(features)
            skip = CenterCrop(features.shape[1], name=f"crop_skip_{level}")(skips[level])
            features = keras.layers.Concatenate(name=f"skip_{level}")([features, skip])
            features = conv(features, nb_filters * (level + 1), kernel_size_up, f"up_{level}")
            features = condition(features, "decoder", f"condition_decoder_{level}")

        # === Output ===
        cropped_mix = CenterCrop(valid_output_length, name="crop_mix")(mix)
        features = keras.layers.Concatenate(name="skip_mix")([features, cropped_mix])
        features = condition(features, "output")
        nb_estimated = nb_sources - 1 if output_type == "difference" else nb_sources
        estimates = keras.layers.Conv1D(nb_estimated * nb_channels, 1, activation="tanh", name="sources",
                                        dtype="float32")(features)
        # the tail stays float32 under mixed precision
        estimates = keras.layers.Reshape((valid_output_length, nb_estimated, nb_channels), dtype="float32")(estimates)
        estimates = keras.layers.Permute((2, 1, 3), name="sources_first", dtype="float32")(estimates)
        if output_type == "difference":
            cropped_mix = keras.layers.Activation("linear", dtype="float32")(cropped_mix)
            residual = ops.expand_dims(cropped_mix - ops.sum(estimates, axis=1), 1)
            estimates = keras.layers.Concatenate(axis=1, name="with_residual", dtype="float32")([estimates, residual])
        if gate_output:
            estimates = OutputGate(gate_threshold, name="gate", dtype="float32")(estimates, presence)
        super().__init__(inputs={"mix": mix, "presence": presence}, outputs=estimates, **kwargs)

        # === Config ===
        self.input_length = input_length
        self.output_length = valid_output_length
        self.context = (input_length - valid_output_length) // 2
        self.settings = {
            "output_length": valid_output_length, "nb_levels": nb_levels, "nb_filters": nb_filters,
            "kernel_size_down": kernel_size_down, "kernel_size_up": kernel_size_up, "nb_channels": nb_channels,
            "nb_sources": nb_sources, "sample_rate": sample_rate, "output_type": output_type,
            "conditioning": conditioning, "condition_at": condition_at, "gate_output": gate_output,
            "gate_threshold": gate_threshold,
        }

    def get_config(self):
        return {"name": self.name, **self.settings}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def config_json(self):
        """The constructor arguments as sorted JSON (hashable, saved beside weights)."""
        return json.dumps(self.settings, sort_keys=True)
