"""Ultralytics, made offline-safe in one place. Import YOLO through :func:`load_yolo_class`.

Out of the box ultralytics reaches for the network: it downloads ``Arial.ttf`` for plots,
checks and auto-installs packages, syncs settings and events, and writes its config to the
user's home. Before ultralytics is first imported, :func:`configure_ultralytics` sets

- ``YOLO_OFFLINE=1`` (no online checks), ``YOLO_AUTOINSTALL=0`` (no pip installs),
- ``YOLO_CONFIG_DIR`` to ``<cache>/ultralytics`` (see :mod:`common.cache`), with a font
  copied into its ``Ultralytics/`` settings folder as ``Arial.ttf`` (matplotlib ships
  DejaVu Sans),

and afterwards turns settings sync off. :func:`load_yolo` finds weights on disk; a bare name of
ultralytics' released weights (``yolov8m-oiv7.pt``) missing there is downloaded into
``<cache>/weights`` when GitHub is reachable (the path is printed), and is otherwise a one-line
:class:`MissingWeightsError` saying which file to put where.

Weights are loaded without running code: ``.pt`` files are unpickled with
``torch.load(weights_only=True)`` against ultralytics' allow-list of model classes
(``ULTRALYTICS_SAFE_LOAD=1``, set here before ultralytics is imported and forced on its loader
after), so a crafted ``--detector evil.pt`` fails to load instead of running its payload.
"""
import os
import shutil
import socket
import sys
from pathlib import Path

from common.cache import cache_dir
from common.errors import AvsepError, ConfigError

ASSETS_URL = "https://github.com/ultralytics/assets/releases/download/v8.4.0"


class MissingWeightsError(ConfigError):
    """Detector weights are neither on disk nor downloadable now."""

# Model definitions that ultralytics builds from its own package files, untrained.
_CONFIG_SUFFIXES = (".yaml", ".yml")


def configure_ultralytics():
    """Prepare the environment for an offline ultralytics; idempotent. Returns the config dir."""
    config_dir = cache_dir("ultralytics")
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"  # unpickle weights with weights_only=True
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
    config_dir = Path(os.environ["YOLO_CONFIG_DIR"])
    settings_dir = config_dir / "Ultralytics"  # where ultralytics keeps settings and fonts
    settings_dir.mkdir(parents=True, exist_ok=True)
    _place_font(settings_dir / "Arial.ttf")
    if "ultralytics" in sys.modules:
        _disable_sync()
    return config_dir


def _place_font(target):
    """Copy matplotlib's DejaVu Sans to ``target`` unless a font is already there."""
    if target.exists():
        return
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    tmp = target.with_suffix(".tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _disable_sync():
    """Turn off ultralytics' settings sync and anonymous events."""
    from ultralytics import settings

    if settings.get("sync", False):
        settings.update({"sync": False})


def load_yolo_class():
    """Configure ultralytics offline, then return its ``YOLO`` class."""
    configure_ultralytics()
    try:
        from ultralytics import YOLO
    except ImportError as error:
        raise AvsepError(f"ultralytics is not installed ({error}); run `make setup`") from None
    _disable_sync()
    _force_safe_load()
    return YOLO


def _force_safe_load():
    """Safe loading even when ultralytics was imported before the environment was set."""
    import ultralytics.nn.tasks
    import ultralytics.utils

    ultralytics.utils.SAFE_LOAD = True
    ultralytics.nn.tasks.SAFE_LOAD = True


def load_yolo(weights):
    """Load ultralytics weights from disk, never from the network.

    Args:
        weights: a ``.pt`` / ``.onnx`` / exported-model path, a bare file name found in
            ``<cache>/weights``, or a model YAML (``yolov8n.yaml``) built untrained.

    Returns:
        an ultralytics ``YOLO`` model.

    Raises:
        ConfigError: the weights are not on this machine.
    """
    YOLO = load_yolo_class()
    weights = str(weights)
    if weights.endswith(_CONFIG_SUFFIXES):
        return YOLO(weights)
    path = Path(weights).expanduser()
    if not path.exists() and path.parent == Path("."):
        path = cache_dir("weights") / path.name
        if not path.exists():
            fetch_released_weights(path)
    if not path.exists():
        raise MissingWeightsError(missing_weights_message(weights, path))
    try:
        return YOLO(str(path))
    except Exception as error:  # ultralytics raises many types for a corrupt file
        raise ConfigError(f"cannot load detector weights {path}: {str(error).splitlines()[0]}") from None


def missing_weights_message(weights, path):
    """Which file to put where, in one line."""
    released = _released_names()
    if Path(weights).name in released and Path(weights).parent == Path("."):
        return (f"detector weights {weights} are not on this machine and it is offline: download "
                f"{ASSETS_URL}/{Path(weights).name} to {path}, or pass --detector PATH")
    return (f"detector weights {weights!r} are not on this machine; pass --detector PATH to a local "
            f"ultralytics .pt or .onnx file, or put it in {cache_dir('weights')}")


def _released_names():
    from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES

    return GITHUB_ASSETS_NAMES


def github_reachable(timeout_s=3.0):
    """Whether a TCP connection to github.com:443 opens within ``timeout_s``."""
    try:
        with socket.create_connection(("github.com", 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def fetch_released_weights(path):
    """Download ultralytics' released weights named ``path.name`` to ``path`` when online; say where they went.

    Leaves ``path`` absent when the name is not a release asset, GitHub is unreachable, or the
    download fails (the caller reports what to put where).
    """
    if path.name not in _released_names() or not github_reachable():
        return
    from ultralytics.utils.downloads import safe_download

    print(f"downloading {path.name} from {ASSETS_URL} to {path}", file=sys.stderr)
    partial = path.with_name(f"{path.stem}.partial{path.suffix}")  # renamed only when whole
    try:
        safe_download(url=f"{ASSETS_URL}/{path.name}", file=partial, min_bytes=1e5)
        os.replace(partial, path)
    except Exception as error:  # noqa: BLE001  (a failed download is reported as missing weights)
        partial.unlink(missing_ok=True)
        print(f"warning: downloading {path.name} failed: {str(error).splitlines()[0]}", file=sys.stderr)
        return
    print(f"detector weights saved to {path}", file=sys.stderr)
