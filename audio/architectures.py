"""The separator networks a config may name (``model.architecture``), built and loaded by name.

``waveunet`` (default): :class:`audio.waveunet.WaveUNet`, the raw-waveform Wave-U-Net.
``masknet``: :class:`audio.masknet.MaskNet`, presence-conditioned STFT masks. Both take
``{"mix": (batch, input_length, 1), "presence": (batch, K)}`` and return ``(batch, K,
output_length, 1)``, and expose ``input_length``, ``output_length``, ``context`` and ``settings``.
"""
import inspect

from audio.backend import keras
from audio.masknet import MaskNet, masknet_lengths
from audio.waveunet import WaveUNet, waveunet_lengths
from common.errors import ConfigError

ARCHITECTURES = {"waveunet": WaveUNet, "masknet": MaskNet}
DISPLAY_NAMES = {WaveUNet: "Wave-U-Net", MaskNet: "mask network"}


def architecture_of(model_config):
    """The architecture's class for a config's ``model`` section (one-line error if unknown)."""
    name = model_config.get("architecture", "waveunet")
    if name not in ARCHITECTURES:
        raise ConfigError(f"model.architecture must be one of {', '.join(ARCHITECTURES)}, got {name!r}")
    return ARCHITECTURES[name]


def check_model_settings(model_config, path):
    """A one-line error when the config's ``model`` holds a key its architecture does not take."""
    model_class = architecture_of(model_config)
    known = [name for name in inspect.signature(model_class.__init__).parameters if name not in ("self", "kwargs")]
    unknown = sorted(set(model_config) - set(known) - {"architecture"})
    if unknown:
        raise ConfigError(f"config {path}: model.{unknown[0]} is not a {DISPLAY_NAMES[model_class]} setting "
                          f"(they are: {', '.join(known)})")


def build_separator(model_config):
    """A new, uncompiled model for a config's ``model`` section."""
    settings = {key: value for key, value in model_config.items() if key != "architecture"}
    return architecture_of(model_config)(**settings)


def with_output_length(model, output_length):
    """The same network with the same weights, built for output windows of ``output_length`` samples
    (rounded up to a valid length); ``model`` itself when its windows are that long already.

    Both architectures are convolutional along time, so no weight depends on the window: a longer
    window computes what the training window computes, with the context paid once per window.
    """
    if output_length <= model.output_length:
        return model
    resized = build_separator({**model.settings, "output_length": output_length})
    resized.set_weights(model.get_weights())
    return resized


def window_lengths(model_config):
    """``(input_length, output_length)`` of the model a config's ``model`` section builds, without building it."""
    model_class = architecture_of(model_config)
    defaults = inspect.signature(model_class.__init__).parameters

    def setting(name):
        return model_config.get(name, defaults[name].default)

    if model_class is MaskNet:
        return masknet_lengths(*map(setting, ("output_length", "context", "fft_length", "hop")))[:2]
    return waveunet_lengths(*map(setting, ("output_length", "nb_levels", "kernel_size_down", "kernel_size_up")))


def load_separator(path):
    """Load a ``.keras`` file saved from any of :data:`ARCHITECTURES`, with safe_mode on."""
    return keras.saving.load_model(path, safe_mode=True, compile=False)


def describe(settings):
    """A model's size in words, e.g. ``"Wave-U-Net, 8 levels x 16 filters"``."""
    if architecture_of(settings) is MaskNet:
        return (f"mask network, {settings['nb_blocks']} blocks x {settings['hidden']} channels, "
                f"STFT {settings['fft_length']}/{settings['hop']}")
    return f"Wave-U-Net, {settings['nb_levels']} levels x {settings['nb_filters']} filters"
