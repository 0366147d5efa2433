"""Atomic writes (a file or a folder appears whole under its final name, or not at all), and model cards read safely."""
import contextlib
import ctypes
import json
import os
import shutil
import tempfile
from pathlib import Path

from common.errors import ConfigError

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    The temporary file keeps ``path``'s suffix (writers that pick a format from the suffix
    still work) and is removed if the block raises, so an existing ``path`` is never lost
    or half-written.

    Example::

        with atomic_path("out/vn.wav") as tmp:
            soundfile.write(tmp, samples, 22050)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(handle)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def current_umask():
    """The process's umask (read without changing it for good)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path, obj):
    """Write ``obj`` as indented JSON, atomically; NaN or infinity is a ``ValueError``, never written."""
    text = json.dumps(obj, indent=2, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)


@contextlib.contextmanager
def staging_folder(out_dir):
    """Yield an empty hidden folder beside ``out_dir`` for the new result; removed if the block fails."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def replace_folder(staging, out_dir):
    """Make the finished ``staging`` folder ``out_dir``: a rename, or, over an existing ``out_dir``,
    an atomic exchange (:func:`exchange`) after which the earlier folder is deleted."""
    staging, out_dir = Path(staging), Path(out_dir)
    os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp makes 0700
    if not out_dir.exists():
        os.replace(staging, out_dir)
    else:
        exchange(staging, out_dir)
        shutil.rmtree(staging)  # now the earlier folder


def exchange(first, second):
    """Swap two paths atomically (Linux ``renameat2``); elsewhere two renames, with a moment between them."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None and renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second),
                                           _RENAME_EXCHANGE) == 0:
        return
    aside = Path(f"{first}.swap")
    os.replace(second, aside)
    os.replace(first, second)
    os.replace(aside, first)


def read_card(path):
    """The JSON card beside a model's ``.keras`` (``{}`` when there is none); a malformed one is a one-line error."""
    if not path.exists():
        return {}
    try:
        card = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError, OSError) as error:
        raise ConfigError(f"model card {path} is not valid JSON ({type(error).__name__}); fix or remove it") from None
    if not isinstance(card, dict):
        raise ConfigError(f"model card {path} must hold a JSON object")
    return card
