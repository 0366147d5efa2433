"""Import Keras through here: it makes the import order of the frameworks safe, and quiet.

Importing TensorFlow before triton (which torch 2.14.1 pulls in, and ultralytics with it)
segfaults the process; importing triton first is safe. So this module imports triton, when
it is installed, before Keras loads its backend. The backend is Keras' own choice:
``KERAS_BACKEND=tensorflow`` (default) or ``jax``.

TensorFlow's native libraries print start-up lines (oneDNN, absl) straight to file descriptor
2, where ``TF_CPP_MIN_LOG_LEVEL`` does not reach them all; they would come before a CLI's one
``error:`` line. They are held back while Keras loads, and shown only if the import fails.

Usage::

    from audio.backend import keras
"""
import contextlib
import importlib.util
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off stderr


@contextlib.contextmanager
def _native_stderr_held_back():
    """Send file descriptor 2 to a temporary file for the block; replay it if the block raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


with _native_stderr_held_back():
    if importlib.util.find_spec("triton") is not None:
        import triton  # noqa: F401  (must precede TensorFlow)

    import keras  # noqa: E402

__all__ = ["keras"]
