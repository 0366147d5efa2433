"""Start a wider Wave-U-Net from a trained narrower one, computing exactly the same function.

A model with more filters per level (``nb_filters``) is the "larger size" of the separator.
Trained from scratch on a CPU it could not catch up in hours with the shipped model, which has
been fine-tuned over four stages; widened from it, it starts where the shipped model is and
only has to learn what the extra channels add (the idea of Net2Net, Chen et al. 2016, in its
simplest form: new channels get a random input side and a zero output side).

For every convolution of the wide model, each channel of the narrow model is copied to its
place: output channel ``j`` stays ``j``, and an input channel keeps its offset within the
segment it comes from (the concatenations ``[upsampled, skip]`` and ``[features, mix]`` put
the narrow model's channels of the second segment after the wide model's first segment). The
weights from new input channels to old output channels are zero, so the new channels' values
never reach the output until training moves those weights; their own input weights keep the
wide model's random initialisation. FiLM's scale and shift of new channels start at zero
(identity), as in an untrained conditioning layer.

The same way, a model may gain conditioning places (``condition_at: bottleneck`` ->
``bottleneck+decoder``) for channel-preserving kinds (add, multiply, film): the new
conditioning layers keep their untrained, identity initialisation, so the grown model again
starts computing exactly what the trained one does.
"""
import numpy as np

from fusion.conditioning import conditioning_places

MAY_GROW = ("nb_filters", "condition_at")


def widening_error(narrow_settings, wide_settings):
    """Why ``narrow_settings`` cannot be widened into ``wide_settings``, or ``None`` when it can."""
    others = {key for key in narrow_settings.keys() | wide_settings.keys() if key not in MAY_GROW}
    differing = sorted(key for key in others if narrow_settings.get(key) != wide_settings.get(key))
    if differing:
        return f"differs in {', '.join(differing)}"
    if wide_settings["nb_filters"] < narrow_settings["nb_filters"]:
        return (f"has more filters ({narrow_settings['nb_filters']}) than the config's model "
                f"({wide_settings['nb_filters']})")
    return _places_error(narrow_settings, wide_settings)


def _places_error(narrow_settings, wide_settings):
    """Why the narrow model's conditioning places cannot grow into the wide one's, or ``None``."""
    kind = narrow_settings["conditioning"]
    narrow_places = set(conditioning_places(narrow_settings["condition_at"], kind))
    wide_places = set(conditioning_places(wide_settings["condition_at"], kind))
    if narrow_places == wide_places or kind == "none":
        return None
    if kind == "concat" or not narrow_places <= wide_places:
        return (f"is conditioned at {narrow_settings['condition_at']}, which cannot grow into "
                f"{wide_settings['condition_at']} ({kind} conditioning)")
    return None


def channel_segments(settings, nb_filters):
    """Per layer name, the channel segments of its input and of its output.

    Returns:
        ``{layer: (input_segments, output_segments)}``, each a list of channel counts whose
        concatenation is the layer's input (or output) channels, for a model with ``nb_filters``.
    """
    levels, channels, sources = settings["nb_levels"], settings["nb_channels"], settings["nb_sources"]
    kind = settings["conditioning"]
    places = () if kind == "none" else conditioning_places(settings["condition_at"], kind)
    appended = sources if kind == "concat" else 0  # concat adds K presence channels

    def conditioned(segments, place):
        return segments + [appended] if place in places and appended else segments

    layers = {}
    features = conditioned([channels], "input")
    if "input" in places:
        layers["condition_input"] = ([channels], [channels])
    for level in range(levels):
        layers[f"down_{level}"] = (features, [nb_filters * (level + 1)])
        features = [nb_filters * (level + 1)]
    bottleneck = [nb_filters * (levels + 1)]
    layers["bottleneck"] = (features, bottleneck)
    if "bottleneck" in places:
        layers["condition_bottleneck"] = (bottleneck, bottleneck)
    features = conditioned(bottleneck, "bottleneck")
    for level in reversed(range(levels)):
        layers[f"up_{level}"] = (features + [nb_filters * (level + 1)], [nb_filters * (level + 1)])
        features = [nb_filters * (level + 1)]
        if "decoder" in places:
            layers[f"condition_decoder_{level}"] = (features, features)
    features = features + [channels]
    if "output" in places:
        layers["condition_output"] = (features, features)
    estimated = sources - 1 if settings["output_type"] == "difference" else sources
    layers["sources"] = (conditioned(features, "output"), [estimated * channels])
    return layers


def channel_map(narrow_segments, wide_segments):
    """Indices in the wide layout of each narrow channel: ``(sum(narrow_segments),)`` int array."""
    starts = np.concatenate([[0], np.cumsum(wide_segments)[:-1]])
    return np.concatenate([start + np.arange(size) for start, size in zip(starts, narrow_segments)])


def widened_weights(narrow, wide):
    """The weights (``wide.get_weights()`` order) that make ``wide`` compute what ``narrow`` does.

    Args:
        narrow, wide: :class:`WaveUNet` models; ``wide`` has at least as many filters and
            conditioning places and is otherwise the same architecture. ``wide``'s current
            weights give the new channels' random input side and its new conditioning layers
            (which must be untrained: identity).
    """
    error = widening_error(narrow.settings, wide.settings)
    if error:
        raise ValueError(f"cannot widen: the narrow model {error}")
    narrow_layers = channel_segments(narrow.settings, narrow.settings["nb_filters"])
    wide_layers = channel_segments(wide.settings, wide.settings["nb_filters"])
    narrow_values = {variable.path: np.asarray(variable) for variable in narrow.weights}
    weights = []
    for variable in wide.weights:
        layer, kind = variable.path.split("/")[0], variable.path.split("/")[-1]
        if layer not in narrow_layers:  # a conditioning place the narrow model lacks: identity as built
            weights.append(np.array(variable))
            continue
        (narrow_in, narrow_out), (wide_in, wide_out) = narrow_layers[layer], wide_layers[layer]
        inputs, outputs = channel_map(narrow_in, wide_in), channel_map(narrow_out, wide_out)
        weights.append(_embedded(np.array(variable), narrow_values[variable.path], kind, inputs, outputs))
    return weights


def _embedded(wide_value, narrow_value, kind, inputs, outputs):
    """``wide_value`` with the narrow weights copied in and the old outputs' other inputs zeroed.

    Conv kernels are ``(width, in, out)``; conditioning Dense kernels ``(K, channels)`` (their
    input is the presence vector, the same in both models); biases ``(channels,)``.
    """
    if kind == "bias":
        wide_value[outputs] = narrow_value
        return wide_value
    if wide_value.ndim == 2:  # presence -> per-channel scale or shift
        wide_value[:, outputs] = narrow_value
        return wide_value
    wide_value[:, :, outputs] = 0.0  # nothing new flows into the channels the narrow model had
    wide_value[:, inputs[:, None], outputs[None, :]] = narrow_value
    return wide_value
