"""The project's cache folder: ``$XDG_CACHE_HOME/avsep`` (default ``~/.cache/avsep``).

Override it with ``AVSEP_CACHE_DIR``. Downloaded weights and the ultralytics config live
here, never in the user's working directory.
"""
import os
from pathlib import Path


def cache_dir(*parts):
    """Return (and create) a folder inside the cache, e.g. ``cache_dir("ultralytics")``."""
    root = os.environ.get("AVSEP_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(xdg) / "avsep"
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
