"""A conditioned spectrogram-mask separator, in Keras 3 with ``keras.ops``: the Wave-U-Net's
drop-in alternative.

The mixture's short-time Fourier transform (Hann windows of ``fft_length`` samples every
``hop`` samples, no padding) is turned into one mask per vocabulary instrument by a stack of
dilated 1-D convolutions over frames (the frequency bins are the channels), conditioned on the
presence vector at the middle of the stack (FiLM). Each instrument's estimate is the mixture's
complex STFT times its mask, brought back to samples by the inverse STFT; the middle
``output_length`` samples are kept. The mixture's phase comes for free, and the network only has to
say how much of each time-frequency cell belongs to whom: far less to learn than waveforms.

It keeps the Wave-U-Net's interface (``input_length``, ``output_length``, ``context``,
``settings``; inputs ``mix`` ``(batch, input_length, 1)`` and ``presence`` ``(batch, K)``; output
``(batch, K, output_length, 1)`` at ``sample_rate`` Hz), so training, separation, the Wiener
post-filter and evaluation use it unchanged. Mono only.

Measured (TRAINING.md): on one CPU core it fits the rendered
training pieces far better than the Wave-U-Net, but does worse on real recordings unless its
training timbres are varied (``data.eq_db``), and even then it stays below the Wave-U-Net there.
"""
import json
import math

from audio.backend import keras
from fusion.conditioning import OutputGate, PresenceConditioning
from fusion.instruments import NB_INSTRUMENTS
from keras import ops

MASKNET_CONDITIONING = ("none", "film", "multiply")


def masknet_lengths(output_length, context, fft_length, hop):
    """``(input_length, output_length, context)``, each rounded up to whole hops, context >= one window."""
    output_length = hop * math.ceil(output_length / hop)
    context = hop * math.ceil(max(context, fft_length) / hop)
    return output_length + 2 * context, output_length, context


@keras.saving.register_keras_serializable(package="avsep")
class Spectrogram(keras.layers.Layer):
    """``(batch, nb_samples, 1)`` -> real and imaginary STFT, each ``(batch, frames, fft_length // 2 + 1)``."""

    def __init__(self, fft_length, hop, **kwargs):
        super().__init__(**kwargs)
        self.fft_length, self.hop = fft_length, hop

    def call(self, signal):
        return ops.stft(signal[..., 0], self.fft_length, self.hop, self.fft_length, window="hann", center=False)

    def get_config(self):
        return {**super().get_config(), "fft_length": self.fft_length, "hop": self.hop}


@keras.saving.register_keras_serializable(package="avsep")
class MaskedInverse(keras.layers.Layer):
    """Mask the mixture's STFT per source and return the middle samples of each inverse STFT.

    Call arguments: ``masks`` ``(batch, K, frames, bins)``, ``real`` and ``imaginary`` ``(batch,
    frames, bins)``. Returns ``(batch, K, output_length, 1)``.
    """

    def __init__(self, fft_length, hop, input_length, context, output_length, **kwargs):
        super().__init__(**kwargs)
        self.fft_length, self.hop = fft_length, hop
        self.input_length, self.context, self.output_length = input_length, context, output_length

    def call(self, masks, real, imaginary):
        real, imaginary = masks * real[:, None], masks * imaginary[:, None]
        signals = ops.istft((real, imaginary), self.fft_length, self.hop, self.fft_length,
                            length=self.input_length, window="hann", center=False)
        return signals[:, :, self.context:self.context + self.output_length, None]

    def get_config(self):
        return {**super().get_config(), "fft_length": self.fft_length, "hop": self.hop,
                "input_length": self.input_length, "context": self.context, "output_length": self.output_length}


@keras.saving.register_keras_serializable(package="avsep")
class MaskNet(keras.Model):
    """Presence-conditioned STFT masks, one per vocabulary instrument.

    Args:
        output_length: wanted output samples per window; rounded up to whole hops.
        context: samples of context on each side; rounded up to whole hops, at least one window.
        fft_length, hop: the STFT's window (Hann) and hop, in samples.
        hidden: channels of the convolution stack.
        nb_blocks: residual blocks (dilations 1, 2, 4, ... doubling up to 32, then again).
        kernel_size: width of each block's convolution, in frames.
        nb_channels: must be 1 (mono).
        nb_sources: outputs, one per vocabulary instrument.
        sample_rate: the rate the weights expect, in Hz (stored, not used in the graph).
        conditioning: ``film``, ``multiply`` or ``none`` (the unconditioned twin).
        gate_output: zero the estimates of absent instruments.
        gate_threshold: presence at or above which an instrument is present.

    Call arguments:
        ``{"mix": (batch, input_length, 1), "presence": (batch, nb_sources)}``.

    Returns:
        ``(batch, nb_sources, output_length, 1)``.
    """

    def __init__(self, output_length=16384, context=4096, fft_length=1024, hop=256, hidden=256, nb_blocks=8,
                 kernel_size=3, nb_channels=1, nb_sources=NB_INSTRUMENTS, sample_rate=22050, conditioning="film",
                 gate_output=True, gate_threshold=0.5, **kwargs):
        if conditioning not in MASKNET_CONDITIONING:
            raise ValueError(f"conditioning must be one of {MASKNET_CONDITIONING}, got {conditioning!r}")
        if nb_channels != 1:
            raise ValueError(f"the mask network is mono (nb_channels 1), got {nb_channels}")
        input_length, output_length, context = masknet_lengths(output_length, context, fft_length, hop)
        nb_bins = fft_length // 2 + 1

        mix = keras.Input((input_length, 1), name="mix")
        presence = keras.Input((nb_sources,), name="presence")
        real, imaginary = Spectrogram(fft_length, hop, name="stft")(mix)
        magnitude = ops.sqrt(ops.square(real) + ops.square(imaginary) + 1e-12)
        features = keras.layers.LayerNormalization(name="input_norm")(ops.log1p(magnitude))
        features = keras.layers.Dense(hidden, name="encode")(features)
        for block in range(nb_blocks):
            if conditioning != "none" and block == nb_blocks // 2:
                features = PresenceConditioning(conditioning, name="condition_middle")(features, presence)
            residual = keras.layers.LeakyReLU(negative_slope=0.2, name=f"block_{block}_in")(features)
            residual = keras.layers.Conv1D(hidden, kernel_size, dilation_rate=2 ** (block % 6), padding="same",
                                           name=f"block_{block}_conv")(residual)
            residual = keras.layers.LeakyReLU(negative_slope=0.2, name=f"block_{block}_act")(residual)
            residual = keras.layers.Conv1D(hidden, 1, name=f"block_{block}_mix")(residual)
            features = keras.layers.Add(name=f"block_{block}")([features, residual])
        features = keras.layers.LeakyReLU(negative_slope=0.2, name="decode_act")(features)
        masks = keras.layers.Dense(nb_sources * nb_bins, activation="sigmoid", name="masks")(features)
        masks = keras.layers.Reshape((-1, nb_sources, nb_bins))(masks)
        masks = keras.layers.Permute((2, 1, 3), name="masks_sources_first")(masks)  # (batch, K, frames, bins)
        estimates = MaskedInverse(fft_length, hop, input_length, context, output_length, name="inverse")(
            masks, real, imaginary)
        if gate_output:
            estimates = OutputGate(gate_threshold, name="gate")(estimates, presence)
        super().__init__(inputs={"mix": mix, "presence": presence}, outputs=estimates, **kwargs)

        self.input_length, self.output_length, self.context = input_length, output_length, context
        self.settings = {
            "architecture": "masknet", "output_length": output_length, "context": context,
            "fft_length": fft_length, "hop": hop, "hidden": hidden, "nb_blocks": nb_blocks,
            "kernel_size": kernel_size, "nb_channels": nb_channels, "nb_sources": nb_sources,
            "sample_rate": sample_rate, "conditioning": conditioning, "gate_output": gate_output,
            "gate_threshold": gate_threshold,
        }

    def get_config(self):
        return {"name": self.name, **{k: v for k, v in self.settings.items() if k != "architecture"}}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def config_json(self):
        """The constructor arguments as sorted JSON (hashable, saved beside weights)."""
        return json.dumps(self.settings, sort_keys=True)
