"""A separation's output folder: checked before any work, filled in a staging folder, published in one step.

Rules (``separate_video``, ``separate_audio``, ``pipelines.batch``):

- Before anything is loaded, :func:`check_output` refuses an ``--out`` that is a file or cannot
  be written, and, without ``--force``, one that already holds any file the job could write
  (``manifest.json``, ``report.html``, ``mixture.flac``, ``<code>.wav``, ``<code>.mp4`` for any code): nothing is
  touched.
- The job writes into :func:`common.files.staging_folder`, a hidden folder beside OUT, and
  :func:`publish` makes it the result: a new OUT is a rename; an OUT that held only an earlier
  result is exchanged with the staging folder in one ``renameat2(RENAME_EXCHANGE)`` (a reader
  sees the old result or the new one, never a mix), then the old one is deleted; an OUT that
  also holds other files (the user's) gets the new files moved in one by one, the manifest
  last; the files the earlier result's manifest lists and the new one lacks are removed, the
  user's other files kept.
- A job that fails or is killed leaves OUT as it was; its staging folder is removed on failure.
"""
import contextlib
import json
import os
import tempfile
from pathlib import Path

from common.errors import AvsepError
from common.files import replace_folder
from fusion.instruments import CODES

MANIFEST = "manifest.json"
OUTPUT_NAMES = frozenset({MANIFEST, "report.html", "mixture.flac", *(f"{code}{suffix}" for code in CODES for suffix in (".wav", ".mp4"))})


class OutputExistsError(AvsepError):
    """The output folder already holds files this job would write."""


def check_output(out_dir, force=False):
    """One-line errors for an unusable ``out_dir``, before any model or media is loaded."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise AvsepError(f"--out {out_dir} is a file, not a folder")
    existing = _nearest_existing(out_dir)
    if not existing.is_dir():
        raise AvsepError(f"--out {out_dir}: {existing} is a file, not a folder")
    try:  # a real write, not os.access: root ignores permission bits, read-only mounts do not
        handle, probe = tempfile.mkstemp(dir=existing, prefix=".avsep-write-check-")
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        raise AvsepError(f"cannot write to {out_dir}: {error.strerror or error}") from None
    if out_dir.is_dir() and not force:
        clashes = sorted(p.name for p in out_dir.iterdir() if p.name in OUTPUT_NAMES)
        if clashes:
            shown = ", ".join(clashes[:4]) + (", ..." if len(clashes) > 4 else "")
            raise OutputExistsError(f"{out_dir} already holds {shown}; use --force to replace them")


def _nearest_existing(path):
    """``path`` or its closest existing ancestor."""
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def publish(staging, out_dir):
    """Make the finished ``staging`` folder the result at ``out_dir`` (see the module's rules)."""
    staging, out_dir = Path(staging), Path(out_dir)
    if not out_dir.exists() or _holds_only_a_result(out_dir):
        replace_folder(staging, out_dir)
    else:
        _merge(staging, out_dir)


def _holds_only_a_result(out_dir):
    """True for an empty folder, or one holding an earlier result (its manifest) and nothing else."""
    names = {p.name for p in out_dir.iterdir()}
    return not names or (MANIFEST in names and names <= OUTPUT_NAMES)


def _merge(staging, out_dir):
    """Move the new result's files into a folder that also holds the user's.

    Files an earlier result listed in its manifest and the new one lacks are removed; every
    other file of the folder is left alone.
    """
    new_names = {p.name for p in staging.iterdir()}
    stale = set(_result_files(out_dir)) - new_names
    for path in sorted(staging.iterdir(), key=lambda p: p.name == MANIFEST):  # manifest last
        os.replace(path, out_dir / path.name)
    staging.rmdir()
    for name in stale:
        with contextlib.suppress(FileNotFoundError):
            (out_dir / name).unlink()


def _result_files(out_dir):
    """Names of the files an earlier result in ``out_dir`` wrote, from its manifest (none if unreadable)."""
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        manifest = json.loads((out_dir / MANIFEST).read_text())
        return [name for name in manifest.get("files", manifest.get("stems", [])) if name in OUTPUT_NAMES]
    return []
