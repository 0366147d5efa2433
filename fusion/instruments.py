"""The instrument vocabulary: URMP's 13 instruments in one fixed order, as data.

Every K-dimensional array in the product (presence vectors, model outputs, labels) is
ordered like :data:`CODES`. This module imports numpy and yaml only, never a deep-learning
framework, so the vision processes can use it without TensorFlow.

Detector classes map to codes through :data:`DETECTOR_CLASS_MAP` (Open Images V7 names,
as in ultralytics' ``open-images-v7.yaml``, plus the vocabulary's own names for
open-vocabulary detectors such as YOLO-World) and an optional user YAML. Two ambiguities
are known and written down in :data:`DETECTOR_AMBIGUITIES`: Open Images has no viola and no
double bass, so a detected "Violin" may be a viola and a detected "Cello" a double bass.
Open Images also lacks clarinet, bassoon and tuba; only open-vocabulary weights or a
detector trained on them (see ``vision/``) can see those.

URMP names (``01_Jupiter_vn_vc``, ``AuMix_01_Jupiter_vn_vc.wav``,
``AuSep_1_vn_01_Jupiter.wav``, ``Vid_01_Jupiter_vn_vc.mp4``) are parsed by
:func:`parse_urmp_name`.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from common.errors import ConfigError, InvalidNameError, UnknownInstrumentError


@dataclass(frozen=True)
class Instrument:
    """One instrument of the vocabulary.

    Attributes:
        code: URMP's abbreviation (``"vn"``).
        name: full English name (``"violin"``), also the open-vocabulary detector prompt.
        family: ``"strings"``, ``"woodwinds"`` or ``"brass"``.
        gm_program: General MIDI program, 0-based as written in MIDI files (violin is 40,
            shown as 41 in 1-based tables).
        lowest_pitch, highest_pitch: practical sounding range as MIDI note numbers.
    """

    code: str
    name: str
    family: str
    gm_program: int
    lowest_pitch: int
    highest_pitch: int


INSTRUMENTS = (
    Instrument("vn", "violin", "strings", 40, 55, 103),  # G3 - G7
    Instrument("va", "viola", "strings", 41, 48, 91),  # C3 - G6
    Instrument("vc", "cello", "strings", 42, 36, 81),  # C2 - A5
    Instrument("db", "double bass", "strings", 43, 28, 67),  # E1 - G4 (sounding)
    Instrument("fl", "flute", "woodwinds", 73, 60, 96),  # C4 - C7
    Instrument("ob", "oboe", "woodwinds", 68, 58, 91),  # Bb3 - G6
    Instrument("cl", "clarinet", "woodwinds", 71, 50, 94),  # D3 - Bb6 (Bb clarinet, sounding)
    Instrument("sax", "saxophone", "woodwinds", 65, 49, 81),  # alto: Db3 - A5 (sounding)
    Instrument("bn", "bassoon", "woodwinds", 70, 34, 75),  # Bb1 - Eb5
    Instrument("tpt", "trumpet", "brass", 56, 54, 84),  # F#3 - C6 (sounding)
    Instrument("hn", "french horn", "brass", 60, 34, 77),  # B1 - F5 (sounding)
    Instrument("tbn", "trombone", "brass", 57, 40, 77),  # E2 - F5
    Instrument("tba", "tuba", "brass", 58, 26, 65),  # D1 - F4
)

CODES = tuple(instrument.code for instrument in INSTRUMENTS)
NB_INSTRUMENTS = len(CODES)
_BY_CODE = {instrument.code: instrument for instrument in INSTRUMENTS}

# Open Images V7 class names (ultralytics' open-images-v7.yaml) that are vocabulary instruments.
OPEN_IMAGES_CLASS_MAP = {
    "Violin": "vn",
    "Cello": "vc",
    "Flute": "fl",
    "Oboe": "ob",
    "Saxophone": "sax",
    "Trumpet": "tpt",
    "French horn": "hn",
    "Trombone": "tbn",
}

# Detector class name -> code: Open Images names, plus each instrument's own name (the prompts
# given to open-vocabulary detectors and the classes of our synthetic demo detector).
DETECTOR_CLASS_MAP = {
    **OPEN_IMAGES_CLASS_MAP,
    **{instrument.name: instrument.code for instrument in INSTRUMENTS},
}

# Dataset instrument names -> codes. MedleyDB's taxonomy: a section counts as its instrument, a
# mixed one ("string section", "horn section") stays outside the vocabulary, as do relatives
# (piccolo, bass clarinet, english horn, cornet). Bach10's file suffixes ("saxphone" sic; tenor).
MEDLEYDB_CLASS_MAP = {
    **{instrument.name: instrument.code for instrument in INSTRUMENTS},
    **{f"{instrument.name} section": instrument.code for instrument in INSTRUMENTS},
    **{f"{voice} saxophone": "sax" for voice in ("soprano", "alto", "tenor", "baritone")},
}
BACH10_CLASS_MAP = {"violin": "vn", "clarinet": "cl", "saxphone": "sax", "saxophone": "sax", "bassoon": "bn"}

# Detector class -> the codes it may really be. A detected Violin is reported as "vn", a Cello
# as "vc"; downstream code may spread such a detection over both codes.
DETECTOR_AMBIGUITIES = {
    "Violin": ("vn", "va"),
    "Cello": ("vc", "db"),
}

# Open Images V7 classes that show a player is there, whatever the instrument: people (counted,
# to say how many play), a face in a close-up, an instrument of any kind.
PERSON_CLASSES = ("Person", "Man", "Woman", "Boy", "Girl")
PLAYER_CLASSES = (*PERSON_CLASSES, "Human face", "Musical instrument")
# Open Images V7 instruments outside the vocabulary: a player is there, playing none of ours.
OTHER_INSTRUMENT_CLASSES = ("Guitar", "Piano", "Drum", "Accordion", "Harp", "Harpsichord", "Banjo", "Cymbal",
                            "Harmonica", "Musical keyboard", "Organ (Musical Instrument)", "Tambourine")

_URMP_PREFIXES = {"AuMix": "mix", "Vid": "video", "Sco": "score", "AuSep": "stem", "F0s": "f0", "Notes": "notes"}


def instrument(code):
    """Return the :class:`Instrument` for ``code``; raise a clear error for an unknown one."""
    try:
        return _BY_CODE[code]
    except KeyError:
        raise UnknownInstrumentError(
            f"unknown instrument code {code!r}; valid codes: {', '.join(CODES)}"
        ) from None


def index_of(code):
    """Position of ``code`` in :data:`CODES` (the row/channel of every K-dim array)."""
    return CODES.index(instrument(code).code)


def parse_codes(text):
    """Parse ``"vn,vc"`` (commas or spaces) into a tuple of validated codes, order kept."""
    codes = tuple(token for token in text.replace(",", " ").split() if token)
    if not codes:
        raise UnknownInstrumentError(f"no instrument codes given; valid codes: {', '.join(CODES)}")
    for code in codes:
        instrument(code)
    return codes


def presence_vector(codes):
    """Hard presence vector, shape ``(K,)`` float32, 1 where the instrument plays."""
    vector = np.zeros(NB_INSTRUMENTS, dtype=np.float32)
    for code in codes:
        vector[index_of(code)] = 1.0
    return vector


def codes_from_vector(vector, threshold=0.5):
    """Codes whose entry in a ``(K,)`` presence vector is at least ``threshold``."""
    vector = np.asarray(vector)
    if vector.shape != (NB_INSTRUMENTS,):
        raise ValueError(f"presence vector must have shape ({NB_INSTRUMENTS},), got {vector.shape}")
    return tuple(code for code, value in zip(CODES, vector) if value >= threshold)


def load_class_map(path=None):
    """Detector class name -> code: :data:`DETECTOR_CLASS_MAP`, updated by a user YAML.

    The YAML is a mapping ``{class name: code}``; a ``null`` code ignores that class. Lookups
    are case-insensitive (see :func:`code_for_class`).

    Args:
        path: optional YAML file.

    Returns:
        dict ``{lowercased class name: code or None}``.
    """
    class_map = {name.lower(): code for name, code in DETECTOR_CLASS_MAP.items()}
    if path is None:
        return class_map
    path = Path(path)
    try:
        user_map = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"class map not found: {path}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"class map {path} is not readable YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(user_map, dict):
        raise ConfigError(f"class map {path} must be a mapping of detector class name to instrument code")
    for name, code in user_map.items():
        if code is not None:
            instrument(str(code))
        class_map[str(name).lower()] = None if code is None else str(code)
    return class_map


def code_for_class(class_name, class_map=None):
    """The vocabulary code of a detector class name, or None when it is no instrument of ours."""
    class_map = class_map if class_map is not None else load_class_map()
    return class_map.get(class_name.strip().lower())


@dataclass(frozen=True)
class UrmpName:
    """What a URMP-style file or folder name says.

    Attributes:
        kind: ``"piece"`` (a folder), ``"mix"``, ``"video"``, ``"score"``, ``"stem"``,
            ``"f0"`` or ``"notes"``.
        number: the piece number (``1`` for ``01_Jupiter``).
        title: the piece title (``"Jupiter"``).
        codes: the ensemble's codes in score order; empty for per-part files, whose
            name holds only their own part.
        part: 1-based part index for per-part files (``AuSep_2_vc_...``), else None.
        code: the part's instrument for per-part files, else None.
    """

    kind: str
    number: int
    title: str
    codes: tuple = ()
    part: int = None
    code: str = None

    @property
    def piece(self):
        """The piece's folder-style id, ``"01_Jupiter"``."""
        return f"{self.number:02d}_{self.title}"


def parse_urmp_name(name):
    """Parse a URMP folder or file name (any directory and extension are ignored).

    ``01_Jupiter_vn_vc`` -> piece; ``AuMix_01_Jupiter_vn_vc.wav`` -> mix;
    ``Vid_01_Jupiter_vn_vc.mp4`` -> video; ``AuSep_1_vn_01_Jupiter.wav`` -> stem (part 1, vn).
    An ensemble may repeat a code (``vn_vn_va_vc``).

    Raises:
        InvalidNameError: the name does not follow the scheme.
        UnknownInstrumentError: a code is not in the vocabulary.
    """
    stem = Path(str(name)).name.split(".")[0]
    tokens = stem.split("_")
    kind = _URMP_PREFIXES.get(tokens[0], "piece")
    if kind != "piece":
        tokens = tokens[1:]
    if kind in ("stem", "f0", "notes"):
        return _parse_part_name(name, kind, tokens)
    # NN_Title_code_code...
    if len(tokens) < 3 or not tokens[0].isdigit():
        raise InvalidNameError(f"{name!r} is not a URMP name like 01_Jupiter_vn_vc")
    codes = tuple(tokens[2:])
    for code in codes:
        instrument(code)
    return UrmpName(kind=kind, number=int(tokens[0]), title=tokens[1], codes=codes)


def _parse_part_name(name, kind, tokens):
    """``i_code_NN_Title`` after the prefix: one part's file."""
    if len(tokens) != 4 or not tokens[0].isdigit() or not tokens[2].isdigit():
        raise InvalidNameError(f"{name!r} is not a URMP part name like AuSep_1_vn_01_Jupiter.wav")
    code = instrument(tokens[1]).code
    return UrmpName(kind=kind, number=int(tokens[2]), title=tokens[3], part=int(tokens[0]), code=code)


def format_piece_name(number, title, codes):
    """Inverse of :func:`parse_urmp_name` for folders: ``(1, "Jupiter", ("vn", "vc"))`` -> ``01_Jupiter_vn_vc``."""
    if "_" in title or not title:
        raise InvalidNameError(f"a URMP title is one word without underscores, got {title!r}")
    for code in codes:
        instrument(code)
    return "_".join([f"{number:02d}", title, *codes])
