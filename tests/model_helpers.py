"""Small Wave-U-Nets for tests: tiny sizes, random weights, and a pass-through that outputs tanh(mix)."""
import numpy as np

from audio.waveunet import WaveUNet


def tiny(**overrides):
    settings = dict(output_length=300, nb_levels=3, nb_filters=4, kernel_size_down=5, kernel_size_up=3)
    settings.update(overrides)
    return WaveUNet(**settings)


def randomize_weights(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def passthrough(model):
    """Zero every weight but the 1x1 output conv's tap on the mix: each source becomes tanh(mix)."""
    weights = [np.zeros_like(w) for w in model.get_weights()]
    kernel = model.get_layer("sources").kernel
    index = next(i for i, w in enumerate(model.weights) if w.path == kernel.path)
    nb_channels = model.settings["nb_channels"]
    for source in range(model.settings["nb_sources"]):
        for channel in range(nb_channels):
            weights[index][0, -nb_channels + channel, source * nb_channels + channel] = 1.0
    model.set_weights(weights)
    return model
