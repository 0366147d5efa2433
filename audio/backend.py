"""Import Keras through here: it makes the import order of the frameworks safe.

Importing TensorFlow before triton (which torch 2.14.1 pulls in, and ultralytics with it)
segfaults the process; importing triton first is safe. So this module imports triton, when
it is installed, before Keras loads its backend. The backend is Keras' own choice:
``KERAS_BACKEND=tensorflow`` (default) or ``jax``.

Usage::

    from audio.backend import keras
"""
import importlib.util
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off stderr

if importlib.util.find_spec("triton") is not None:
    import triton  # noqa: F401  (must precede TensorFlow)

import keras  # noqa: E402

__all__ = ["keras"]
