"""One error hierarchy for the whole product.

Every failure a user can cause (a missing file, a text file named ``.mp4``, an unknown
instrument code) is raised as a subclass of :class:`AvsepError`. CLIs catch it and print
its message as one line (see :mod:`common.cli`); anything else is a bug and keeps its
traceback.
"""


class AvsepError(Exception):
    """Base class of every error the user can cause; its message is one line."""


class MediaNotFoundError(AvsepError):
    """The media file does not exist."""


class EmptyMediaError(AvsepError):
    """The file is empty, or decodes to zero samples or frames."""


class UndecodableMediaError(AvsepError):
    """ffmpeg or OpenCV cannot decode the file (not media, corrupt, unsupported)."""


class NoAudioStreamError(AvsepError):
    """The file decodes, but holds no audio stream."""


class NoVideoStreamError(AvsepError):
    """The file decodes, but holds no video stream."""


class UnknownInstrumentError(AvsepError):
    """An instrument code or detector class that the vocabulary does not know."""


class InvalidNameError(AvsepError):
    """A file or folder name that does not follow the URMP naming scheme."""


class ConfigError(AvsepError):
    """A configuration file (class map, model config) that cannot be used."""


def one_line(error):
    """An exception as one line of text: its message's first line, or its type's name."""
    return str(error).splitlines()[0] if str(error) else type(error).__name__
