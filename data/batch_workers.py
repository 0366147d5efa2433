"""Training batches built by worker processes, for accelerators a single CPU core cannot keep busy.

A GPU can step the shipped Wave-U-Net through more examples a second than the NumPy sampler
builds on one core (~500-700 at its windows, with random crops, gains, repitching and
equalisers; ``benchmarks/input_speed.py --config C --workers N`` measures both ways). With
``training.data_workers: N`` the training CLI wraps its sampler in :class:`ParallelBatches`:
N forked processes build the batches of the next steps ahead while the model trains, and
``batch(step)`` hands them out in order. Batch ``step`` still depends only on ``(seed, step)``,
so a run's batches are exactly the single-process sampler's, and a resumed run sees the same.

The workers are forked when the object is made: make it before the framework starts its
threads (before any model is built), since forking a running JAX or TensorFlow is unsafe.
Targets travel compactly: only the rows of present instruments (the others are silent).
"""
import multiprocessing
from collections import deque

import numpy as np

_worker_sampler = None  # the sampler, inherited by each forked worker


def _compact_batch(step):
    """Batch ``step`` of the inherited sampler with the silent target rows left out."""
    inputs, targets = _worker_sampler.batch(step)
    return inputs, targets[inputs["presence"] > 0]


class ParallelBatches:
    """``batch(step)`` of ``sampler``, built ``workers`` processes at a time, up to ``ahead`` steps ahead.

    Args:
        sampler: anything with ``batch(step)`` and ``batch_size`` (a :class:`data.sampler.StemSampler`),
            whose batches' targets are ``(B, K, length, 1)`` silent where ``inputs["presence"]`` is 0.
        workers: processes (forked, so they share the sampler's stems without copying them).
        ahead: batches in flight; default twice the workers.
    """

    def __init__(self, sampler, workers, ahead=None):
        global _worker_sampler
        _worker_sampler = sampler
        self.batch_size = sampler.batch_size
        self.ahead = ahead or 2 * workers
        self.pool = multiprocessing.get_context("fork").Pool(workers)
        self.pending, self.next_step = deque(), None

    def batch(self, step):
        """Batch number ``step``: the same ``(inputs, targets)`` as ``sampler.batch(step)``."""
        if step != self.next_step:  # a first call, or a jump: start the queue at this step
            self.pending.clear()
            self.next_step = step
            for ahead_step in range(step, step + self.ahead):
                self.pending.append(self.pool.apply_async(_compact_batch, (ahead_step,)))
        inputs, present_targets = self.pending.popleft().get()
        self.pending.append(self.pool.apply_async(_compact_batch, (step + self.ahead,)))
        self.next_step = step + 1
        presence = inputs["presence"]
        targets = np.zeros(presence.shape + present_targets.shape[1:], dtype=present_targets.dtype)
        targets[presence > 0] = present_targets
        return inputs, targets

    def close(self):
        """Stop the workers, once the batches in flight have arrived: a worker left writing a large
        batch into a full pipe would hold the queue's lock and hang ``Pool.terminate``."""
        for result in self.pending:
            result.wait(timeout=60)
        self.pending.clear()
        self.pool.terminate()
        self.pool.join()
