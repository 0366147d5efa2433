"""Training losses of the Wave-U-Net, in ``keras.ops`` only (TensorFlow and JAX backends).

Every loss compares ``targets`` with ``estimates``, both ``(batch, nb_sources, nb_samples,
nb_channels)`` at the model's sample rate, and gives one value per example; Keras averages them
over the batch. ``LOSSES`` maps the names a config's ``training.loss`` may hold to them.
"""
from audio.backend import keras
from common.errors import ConfigError

ops = keras.ops

# (window and FFT length, hop) in samples: ~12 ms, 46 ms and 93 ms windows at 22.05 kHz.
STFT_RESOLUTIONS = ((256, 64), (1024, 256), (2048, 512))
SILENCE_RATIO = 1e-4  # a target under -40 dB re the example's mean source energy counts as silent
MAGNITUDE_FLOOR = 1e-3  # below this the log-magnitude term stops caring (~-60 dB re a full-scale bin)


def sse_loss(targets, estimates):
    """Sum of squared errors per example (the seed's 'SSE'), averaged over the batch."""
    return ops.sum(ops.square(targets - estimates), axis=(1, 2, 3))


def stem_balanced_mse(targets, estimates, floor=0.1):
    """Per example, each source's squared error over its own energy, so a quiet stem counts.

    A source's mean squared error is divided by its target's mean energy plus ``floor`` times the
    example's mean energy per source, then multiplied back by that mean, so a source at the
    example's mean level weighs about as in MSE, one 9 dB under it ~4x more, and a silent target
    (whose leakage nothing else penalises) ``1 / floor`` times more.
    """
    errors = ops.mean(ops.square(targets - estimates), axis=(2, 3))  # (batch, nb_sources)
    energies = ops.mean(ops.square(targets), axis=(2, 3))
    mean_energy = ops.mean(energies, axis=1, keepdims=True) + 1e-10
    return ops.mean(errors * mean_energy / (energies + floor * mean_energy), axis=1)


def silent_stem_error(targets, estimates, silence_ratio=SILENCE_RATIO):
    """Per example, the squared error of the sources whose target is silent, averaged over all
    sources as MSE averages them, so it adds to MSE what those stems already cost there.

    A target is silent when its mean energy is under ``silence_ratio`` times the example's mean
    energy per source (or exact zero): a named instrument that does not play (false presence in
    training) or rests. Gated absent instruments are exact silence in estimates too and add nothing.
    """
    errors = ops.mean(ops.square(targets - estimates), axis=(2, 3))  # (batch, nb_sources)
    energies = ops.mean(ops.square(targets), axis=(2, 3))
    mean_energy = ops.mean(energies, axis=1, keepdims=True)
    silent = ops.cast(energies <= silence_ratio * mean_energy, errors.dtype)
    return ops.mean(silent * errors, axis=1)


def stft_magnitudes(signals, fft_length, hop):
    """``(batch, nb_sources, nb_samples, nb_channels)`` -> ``(batch, nb_sources, nb_channels, frames, bins)``."""
    signals = ops.transpose(signals, (0, 1, 3, 2))
    real, imaginary = ops.stft(signals, fft_length, hop, fft_length, window="hann", center=False)
    return ops.sqrt(ops.square(real) + ops.square(imaginary) + 1e-12)


def multi_resolution_stft_distance(targets, estimates, resolutions=STFT_RESOLUTIONS):
    """Per example, the mean over resolutions of spectral convergence plus log-magnitude L1.

    Spectral convergence, made symmetric: the Frobenius norm of the magnitude error over the sum
    of the target's and the estimate's (all sources of an example together), between 0 and 1, so
    a near-silent example cannot blow it up; it weighs the loud partials. The log-magnitude L1
    weighs quiet bins and leakage into rests.
    Resolutions whose window is longer than the output are left out.
    """
    resolutions = [(fft_length, hop) for fft_length, hop in resolutions if fft_length <= targets.shape[2]]
    if not resolutions:
        raise ConfigError(f"the STFT loss needs outputs of at least {min(STFT_RESOLUTIONS)[0]} samples")
    distance = 0.0
    for fft_length, hop in resolutions:
        target_magnitude = stft_magnitudes(targets, fft_length, hop)
        estimate_magnitude = stft_magnitudes(estimates, fft_length, hop)
        axes = (1, 2, 3, 4)
        error = ops.sqrt(ops.sum(ops.square(target_magnitude - estimate_magnitude), axis=axes))
        norms = ops.sqrt(ops.sum(ops.square(target_magnitude), axis=axes)) + ops.sqrt(
            ops.sum(ops.square(estimate_magnitude), axis=axes))
        convergence = error / (norms + 1e-7)
        log_distance = ops.mean(ops.abs(ops.log(ops.maximum(target_magnitude, MAGNITUDE_FLOOR))
                                        - ops.log(ops.maximum(estimate_magnitude, MAGNITUDE_FLOOR))), axis=axes)
        distance = distance + convergence + log_distance
    return distance / len(resolutions)


class MseAndWeightedTerm(keras.losses.Loss):
    """Mean squared error plus a weight times a second per-example term, which a subclass names.

    A subclass sets ``term`` (a function ``(targets, estimates) -> (batch,)``), ``weight_key``
    (the ``training`` key, and the config key, holding the weight), ``default_weight`` and
    ``default_name``. ``weight`` is read from that key when given by name (as ``from_config`` does).
    """
    term = None
    weight_key = None
    default_weight = None
    default_name = None

    def __init__(self, weight=None, name=None, **kwargs):
        weight = kwargs.pop(self.weight_key, weight)
        super().__init__(name=name or self.default_name, **kwargs)
        self.weight = self.default_weight if weight is None else weight

    def call(self, targets, estimates):
        mse = ops.mean(ops.square(targets - estimates), axis=(1, 2, 3))
        return mse + self.weight * type(self).term(targets, estimates)

    def get_config(self):
        return {**super().get_config(), self.weight_key: self.weight}


@keras.saving.register_keras_serializable(package="avsep")
class WaveformAndSpectrumLoss(MseAndWeightedTerm):
    """MSE plus ``stft_weight`` times :func:`multi_resolution_stft_distance`.

    The waveform term keeps the phase (and so SDR) honest; the spectral term, which ignores
    phase, asks for the right partials at every time scale. The default, 5e-4, gives the two
    terms about equal shares for the shipped model on its training batches.
    """
    term = staticmethod(multi_resolution_stft_distance)
    weight_key, default_weight, default_name = "stft_weight", 5e-4, "mse_stft"


@keras.saving.register_keras_serializable(package="avsep")
class MseAndBalancedLoss(MseAndWeightedTerm):
    """MSE plus ``balanced_weight`` times :func:`stem_balanced_mse`.

    MSE alone lets a stem 9 dB under the others keep a loud neighbour's sound (it weighs errors by
    loudness); the balanced loss alone fixes that but trades artefacts for it. A share of it asks
    for the quiet part without giving up MSE's loud ones. Both terms are on the same scale: a
    stem at the example's mean level weighs about the same in each.
    """
    term = staticmethod(stem_balanced_mse)
    weight_key, default_weight, default_name = "balanced_weight", 0.25, "mse_balanced"


@keras.saving.register_keras_serializable(package="avsep")
class MseAndSilenceLoss(MseAndWeightedTerm):
    """MSE plus ``silence_weight`` times :func:`silent_stem_error`.

    With MSE a stem that should be silent but holds -10 dB of its neighbours costs little against
    the loud stems' errors, so a named instrument that does not play keeps their sound. This
    weighs a silent target's error ``1 + silence_weight`` times its MSE share; others as in MSE.
    """
    term = staticmethod(silent_stem_error)
    weight_key, default_weight, default_name = "silence_weight", 9.0, "mse_silence"


def build_loss(training):
    """The loss named by ``training['loss']``: ``mse``, ``sse``, ``l1``, ``balanced``, ``mse+stft``,
    ``mse+balanced`` or ``mse+silence``.

    ``mse+stft`` reads its balance from ``training['stft_weight']``; the default, 5e-4, gives the
    two terms about equal shares for the shipped model on its training batches. ``mse+balanced``
    reads ``training['balanced_weight']`` (default 0.25), ``mse+silence`` ``training['silence_weight']``
    (default 9: a silent target's error weighs 10x).
    """
    name = training.get("loss", "mse")
    if name in WEIGHTED_LOSSES:
        loss_class = WEIGHTED_LOSSES[name]
        weight = training.get(loss_class.weight_key, loss_class.default_weight)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise ConfigError(f"training.{loss_class.weight_key} must be a number >= 0, got {weight!r}")
        return loss_class(float(weight))
    if name not in LOSSES:
        raise ConfigError(f"training.loss: unknown loss {name!r}; choose from {', '.join([*LOSSES, *WEIGHTED_LOSSES])}")
    return LOSSES[name]


LOSSES = {"mse": "mse", "sse": sse_loss, "l1": "mae", "balanced": stem_balanced_mse}
WEIGHTED_LOSSES = {"mse+stft": WaveformAndSpectrumLoss, "mse+balanced": MseAndBalancedLoss,
                   "mse+silence": MseAndSilenceLoss}
