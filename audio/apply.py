"""Separating audio of any length with a Wave-U-Net, window by window.

Output windows of ``model.output_length`` samples are laid end to end over the track; each
reads its input with ``model.context`` samples of context on both sides (zeros beyond the
track's ends), and the last window is moved back to end exactly at the track's end. So output
sample i belongs to input sample i, with no seams and no offset (as in Stoller's Wave-U-Net).
Windows are batched; :func:`iter_separate` yields the result in order, window by window, so a
caller that writes as it goes keeps memory flat however long the track.

Presence is given per window: a ``(K,)`` vector for the whole track, or a callable mapping
window-centre times in seconds ``(nb_windows,)`` to ``(nb_windows, K)``.
"""
import numpy as np
from tqdm import tqdm


def window_starts(nb_samples, output_length):
    """Start sample of each output window: ``0, O, 2O, ...``, the last moved back to end at the end.

    Returns:
        int array ``(nb_windows,)``; one window at 0 when the track is shorter than a window.
    """
    if nb_samples <= output_length:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, nb_samples - output_length, output_length, dtype=np.int64)
    return np.append(starts, nb_samples - output_length)


def presence_per_window(presence, starts, output_length, sample_rate):
    """Presence ``(nb_windows, K)`` float32 for windows starting at ``starts``."""
    if callable(presence):
        centres_s = (starts + output_length / 2) / sample_rate
        return np.asarray(presence(centres_s), dtype=np.float32)
    return np.repeat(np.asarray(presence, dtype=np.float32)[None], len(starts), axis=0)


def _input_window(mixture, start, input_length, context):
    """Input ``(input_length, nb_channels)`` for an output window at ``start``, zero-padded past the ends."""
    nb_channels, nb_samples = mixture.shape
    window = np.zeros((input_length, nb_channels), dtype=np.float32)
    first, last = start - context, start - context + input_length
    lo, hi = max(first, 0), min(last, nb_samples)
    if hi > lo:
        window[lo - first:hi - first] = mixture[:, lo:hi].T
    return window


def predict_windows(model, windows, presences, batch_size):
    """The model's estimates ``(n, K, O, C)`` float32 for ``n <= batch_size`` input windows.

    Always one call of ``batch_size`` windows (zeros after the ``n`` given): a model compiled with
    XLA (:class:`audio.separator.Separator` compiles it) then sees one input shape, and a track's
    short last batch costs no second compilation.

    Args:
        windows: ``(n, input_length, nb_channels)`` float32.
        presences: ``(n, K)`` float32.
    """
    nb_windows = len(windows)
    missing = batch_size - nb_windows
    if missing > 0:
        windows = np.concatenate([windows, np.zeros((missing, *windows.shape[1:]), np.float32)])
        presences = np.concatenate([presences, np.zeros((missing, *presences.shape[1:]), np.float32)])
    outputs = model.predict_on_batch({"mix": windows, "presence": presences})
    return np.asarray(outputs, dtype=np.float32)[:nb_windows]


def iter_separate(model, mixture, presence, batch_size=8, progress=False):
    """Separate ``mixture`` window by window, yielding contiguous pieces in order.

    Args:
        model: a :class:`audio.waveunet.WaveUNet` (``input_length``, ``output_length``, ``context``).
        mixture: float array ``(nb_channels, nb_samples)`` at the model's sample rate.
        presence: ``(K,)`` array, or callable ``times_s (n,) -> (n, K)``.
        batch_size: windows per model call.
        progress: show a progress bar in seconds of audio.

    Yields:
        ``(start, estimates)``: ``estimates`` float32 ``(K, nb_channels, length)`` for samples
        ``start .. start + length`` of the track; the pieces tile ``0 .. nb_samples`` exactly.
    """
    mixture = np.asarray(mixture, dtype=np.float32)
    nb_samples = mixture.shape[1]
    sample_rate = model.settings["sample_rate"]
    starts = window_starts(nb_samples, model.output_length)
    presences = presence_per_window(presence, starts, model.output_length, sample_rate)
    emitted = 0  # samples of the track already yielded
    with tqdm(total=round(nb_samples / sample_rate, 2), unit="s", unit_scale=True, disable=not progress,
              desc="separating") as bar:
        for first in range(0, len(starts), batch_size):
            batch_starts = starts[first:first + batch_size]
            windows = np.stack([_input_window(mixture, s, model.input_length, model.context) for s in batch_starts])
            outputs = predict_windows(model, windows, presences[first:first + batch_size], batch_size)
            for start, estimates in zip(batch_starts, outputs):
                end = min(start + model.output_length, nb_samples)
                piece = estimates[:, emitted - start:end - start].transpose(0, 2, 1)  # (K, C, length)
                yield emitted, piece
                bar.update(round(piece.shape[-1] / sample_rate, 2))
                emitted = end


def iter_separate_stream(model, blocks, presence, batch_size=8):
    """:func:`iter_separate` over a mixture that arrives in blocks: the same windows, the same pieces.

    Only the samples still needed are kept (about one window, plus the last block), so memory does
    not grow with the length. A regular window is run once the samples after its output are known
    to exist; at the end of the stream the remaining windows, and the last one moved back to end at
    the track's end, are run exactly as :func:`window_starts` lays them.

    Args:
        model, presence, batch_size: as for :func:`iter_separate`.
        blocks: iterable of float arrays ``(nb_channels, n)`` at the model's rate, in order.

    Yields:
        ``(start, estimates (K, nb_channels, length))``, tiling the whole stream in order.
    """
    sample_rate = model.settings["sample_rate"]
    output_length, context, input_length = model.output_length, model.context, model.input_length
    buffer, buffer_start, total = None, 0, 0  # buffer holds samples buffer_start .. total
    next_start, emitted, pending = 0, 0, []

    def run(starts):
        nonlocal emitted
        presences = presence_per_window(presence, np.asarray(starts), output_length, sample_rate)
        windows = np.stack([_input_window(buffer, s - buffer_start, input_length, context) for s in starts])
        outputs = predict_windows(model, windows, presences, batch_size)
        for start, estimates in zip(starts, outputs):
            end = min(start + output_length, total)
            yield emitted, estimates[:, emitted - start:end - start].transpose(0, 2, 1)
            emitted = end

    for block in blocks:
        block = np.asarray(block, dtype=np.float32)
        buffer = block if buffer is None else np.concatenate([buffer, block], axis=1)
        total += block.shape[1]
        while next_start + output_length + context < total:  # more follows this window's output
            pending.append(next_start)
            next_start += output_length
            if len(pending) == batch_size:
                yield from run(pending)
                pending = []
                keep_from = max(0, next_start - context - output_length)  # the last window may move back
                buffer, buffer_start = buffer[:, keep_from - buffer_start:], keep_from
    if buffer is None:
        return
    final = [int(s) for s in window_starts(total, output_length) if s >= next_start or s == total - output_length]
    starts = pending + [s for s in final if s not in pending]
    for first in range(0, len(starts), batch_size):
        yield from run(starts[first:first + batch_size])


def separate(model, mixture, presence, batch_size=8, progress=False):
    """Separate a whole track in memory.

    Args:
        model, mixture, presence, batch_size, progress: as for :func:`iter_separate`.

    Returns:
        float32 ``(K, nb_channels, nb_samples)`` at the model's rate, sample-aligned with ``mixture``.
    """
    nb_channels, nb_samples = np.shape(mixture)
    estimates = np.zeros((model.settings["nb_sources"], nb_channels, nb_samples), dtype=np.float32)
    for start, piece in iter_separate(model, mixture, presence, batch_size, progress):
        estimates[:, :, start:start + piece.shape[-1]] = piece
    return estimates
