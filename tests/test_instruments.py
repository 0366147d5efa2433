import numpy as np
import pytest

from common.errors import ConfigError, InvalidNameError, UnknownInstrumentError
from fusion import instruments
from fusion.instruments import (CODES, code_for_class, codes_from_vector, format_piece_name, instrument,
                                load_class_map, parse_codes, parse_urmp_name, presence_vector)


def test_vocabulary_order_is_urmp_order():
    assert CODES == ("vn", "va", "vc", "db", "fl", "ob", "cl", "sax", "bn", "tpt", "hn", "tbn", "tba")


@pytest.mark.parametrize("code", CODES)
def test_every_instrument_is_complete(code):
    entry = instrument(code)
    assert entry.family in ("strings", "woodwinds", "brass")
    assert 0 <= entry.gm_program <= 127
    assert 0 <= entry.lowest_pitch < entry.highest_pitch <= 127
    assert entry.name and entry.name == entry.name.lower()


def test_gm_programs_are_the_general_midi_instruments():
    # 0-based General MIDI: 40 Violin ... 43 Contrabass, 56 Trumpet, 58 Tuba, 73 Flute
    assert [instrument(c).gm_program for c in ("vn", "va", "vc", "db", "tpt", "tba", "fl")] == [40, 41, 42, 43, 56, 58, 73]


def test_lower_strings_reach_lower():
    assert instrument("db").lowest_pitch < instrument("vc").lowest_pitch < instrument("va").lowest_pitch \
        < instrument("vn").lowest_pitch


def test_unknown_code_lists_valid_codes():
    with pytest.raises(UnknownInstrumentError) as error:
        instrument("piano")
    message = str(error.value)
    assert "'piano'" in message and all(code in message for code in CODES)
    assert "\n" not in message


def test_parse_codes_keeps_order_and_validates():
    assert parse_codes("vn,vc") == ("vn", "vc")
    assert parse_codes("tpt vn, vc") == ("tpt", "vn", "vc")
    with pytest.raises(UnknownInstrumentError):
        parse_codes("vn,guitar")
    with pytest.raises(UnknownInstrumentError):
        parse_codes(" , ")


def test_presence_vector_round_trip():
    vector = presence_vector(("vc", "vn", "tba"))
    assert vector.shape == (13,) and vector.dtype == np.float32
    assert vector.sum() == 3 and vector[0] == 1 and vector[2] == 1 and vector[12] == 1
    assert codes_from_vector(vector) == ("vn", "vc", "tba")
    assert codes_from_vector(np.full(13, 0.4)) == ()
    with pytest.raises(ValueError):
        codes_from_vector(np.ones(12))


def test_open_images_classes_map_to_codes():
    expected = {"Violin": "vn", "Cello": "vc", "Flute": "fl", "Oboe": "ob", "Saxophone": "sax",
                "Trumpet": "tpt", "French horn": "hn", "Trombone": "tbn"}
    for name, code in expected.items():
        assert code_for_class(name) == code
    assert code_for_class("Piano") is None
    assert code_for_class("  double BASS ") == "db"  # open-vocabulary prompt names, any case


def test_ambiguities_are_written_down():
    assert instruments.DETECTOR_AMBIGUITIES["Violin"] == ("vn", "va")
    assert instruments.DETECTOR_AMBIGUITIES["Cello"] == ("vc", "db")


def test_user_class_map_overrides_and_ignores(tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("Violin: va\nHarp: null\nBassoon-ish thing: bn\n")
    class_map = load_class_map(path)
    assert code_for_class("Violin", class_map) == "va"
    assert code_for_class("bassoon-ish thing", class_map) == "bn"
    assert code_for_class("Harp", class_map) is None
    assert code_for_class("Cello", class_map) == "vc"


@pytest.mark.parametrize("text, error", [
    ("Violin: guitar\n", UnknownInstrumentError),
    ("- just a list\n", ConfigError),
    ("Violin: [unclosed\n", ConfigError),
])
def test_bad_user_class_map(tmp_path, text, error):
    path = tmp_path / "map.yaml"
    path.write_text(text)
    with pytest.raises(error):
        load_class_map(path)


def test_missing_class_map(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_class_map(tmp_path / "absent.yaml")


@pytest.mark.parametrize("name, kind, number, title, codes", [
    ("01_Jupiter_vn_vc", "piece", 1, "Jupiter", ("vn", "vc")),
    ("/data/URMP/01_Jupiter_vn_vc/", "piece", 1, "Jupiter", ("vn", "vc")),
    ("AuMix_01_Jupiter_vn_vc.wav", "mix", 1, "Jupiter", ("vn", "vc")),
    ("Vid_01_Jupiter_vn_vc.mp4", "video", 1, "Jupiter", ("vn", "vc")),
    ("Sco_44_K515_vn_vn_va_va_vc.pdf", "score", 44, "K515", ("vn", "vn", "va", "va", "vc")),
    ("20_Pavane_tpt_vn_vc", "piece", 20, "Pavane", ("tpt", "vn", "vc")),
])
def test_parse_ensemble_names(name, kind, number, title, codes):
    parsed = parse_urmp_name(name)
    assert (parsed.kind, parsed.number, parsed.title, parsed.codes) == (kind, number, title, codes)
    assert parsed.part is None


def test_parse_part_names():
    stem = parse_urmp_name("AuSep_2_vc_01_Jupiter.wav")
    assert (stem.kind, stem.part, stem.code, stem.number, stem.title) == ("stem", 2, "vc", 1, "Jupiter")
    assert stem.piece == "01_Jupiter"
    assert parse_urmp_name("F0s_1_vn_01_Jupiter.txt").kind == "f0"


@pytest.mark.parametrize("name, error", [
    ("01_Jupiter_vn_xx", UnknownInstrumentError),
    ("AuSep_1_guitar_01_Jupiter.wav", UnknownInstrumentError),
    ("Jupiter_vn_vc", InvalidNameError),
    ("01_Jupiter", InvalidNameError),
    ("AuSep_vn_01_Jupiter.wav", InvalidNameError),
])
def test_bad_names(name, error):
    with pytest.raises(error):
        parse_urmp_name(name)


def test_format_piece_name_inverts_parse():
    name = format_piece_name(7, "Chorale", ("vn", "va", "vc", "db"))
    assert name == "07_Chorale_vn_va_vc_db"
    parsed = parse_urmp_name(f"AuMix_{name}.wav")
    assert (parsed.number, parsed.title, parsed.codes) == (7, "Chorale", ("vn", "va", "vc", "db"))
    with pytest.raises(InvalidNameError):
        format_piece_name(1, "Two_Words", ("vn",))


def test_vocabulary_module_imports_no_framework():
    import subprocess
    import sys

    code = "import sys, fusion.instruments; bad = {'tensorflow', 'keras', 'torch'} & set(sys.modules); print(sorted(bad))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(__import__('conftest').ROOT)).stdout
    assert out.strip() == "[]"
