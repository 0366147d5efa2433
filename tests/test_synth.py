"""``python -m data.synth``: deterministic, URMP layout, mix = sum of stems, labels = file names."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from data.readers import read_urmp
from data.render import find_soundfonts
from data.scores import split_of
from data.synth import main as synth_main
from fusion.instruments import parse_urmp_name, presence_vector

SR = 8000
SECONDS = 3.0


def small_soundfont():
    """TimGM6mb (6 MB, fast to load) if installed, else skip: rendering needs fluidsynth and a SoundFont."""
    if shutil.which("fluidsynth") is None:
        pytest.skip("fluidsynth is not installed (scripts/setup.sh installs it)")
    found = [p for p in find_soundfonts() if "timgm6mb" in p.name.lower()]
    if not found:
        pytest.skip("no TimGM6mb SoundFont installed (scripts/setup.sh installs it)")
    return found[0]


def write_midi_scores(folder):
    """Two small four-part scores (soprano to bass), as a user's MIDI folder."""
    import pretty_midi

    folder.mkdir(parents=True, exist_ok=True)
    for number, root in enumerate((60, 62), start=1):
        midi = pretty_midi.PrettyMIDI(initial_tempo=100)
        for voice, offset in enumerate((12, 4, -5, -17)):
            part = pretty_midi.Instrument(program=0, name=f"voice{voice}")
            for beat in range(16):
                pitch = root + offset + (2, 0, -1, 0)[beat % 4]
                part.notes.append(pretty_midi.Note(90, pitch, beat * 0.6, beat * 0.6 + 0.55))
            midi.instruments.append(part)
        midi.write(str(folder / f"chorale{number}.mid"))
    return folder


def synth(out, scores, soundfont, workers, *extra):
    return synth_main(["--out", str(out), "--pieces", "2", "--seed", "5", "--seconds", str(SECONDS),
                       "--sample-rate", str(SR), "--soundfont", str(soundfont), "--workers", str(workers),
                       "--scores", str(scores), *extra])


@pytest.fixture(scope="module")
def pieces(tmp_path_factory):
    soundfont = small_soundfont()
    scores = write_midi_scores(tmp_path_factory.mktemp("scores"))
    first, second = tmp_path_factory.mktemp("synth_a"), tmp_path_factory.mktemp("synth_b")
    assert synth(first, scores, soundfont, 2, "--split", "all") == 0
    assert synth(second, scores, soundfont, 1, "--split", "all") == 0
    return first, second, scores, soundfont


def read(path):
    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    assert rate == SR
    return audio.T


def test_same_seed_same_pieces_whatever_the_workers(pieces):
    first, second, _, _ = pieces
    folders = sorted(p.name for p in first.iterdir())
    assert len(folders) == 2 and folders == sorted(p.name for p in second.iterdir())
    for name in folders:
        files = sorted(p.name for p in (first / name).iterdir())
        assert files == sorted(p.name for p in (second / name).iterdir())
        for file in files:
            if file.endswith(".wav"):  # the samples; libsndfile's PEAK chunk holds a write time
                np.testing.assert_array_equal(read(first / name / file), read(second / name / file))
            else:
                assert (first / name / file).read_text() == (second / name / file).read_text()


def test_mix_is_exactly_the_sum_and_all_files_are_one_length(pieces):
    first = pieces[0]
    for folder in first.iterdir():
        mix = read(next(folder.glob("AuMix_*.wav")))
        stems = [read(p) for p in sorted(folder.glob("AuSep_*.wav"))]
        assert 2 <= len(stems) <= 5
        assert {s.shape for s in stems} == {mix.shape}
        assert mix.shape[1] >= SECONDS * SR * 0.9
        np.testing.assert_array_equal(np.sum(stems, axis=0, dtype=np.float32), mix)
        assert all(np.abs(s).max() > 1e-3 for s in stems)  # every player plays


def test_labels_agree_with_file_names_and_metadata(pieces):
    first, _, scores, soundfont = pieces
    for track in read_urmp(first):
        folder = first / track.name
        meta = json.loads((folder / "meta.json").read_text())
        folder_codes = parse_urmp_name(track.name).codes
        assert track.codes == folder_codes == tuple(p["code"] for p in meta["players"])
        np.testing.assert_array_equal(track.presence, presence_vector(folder_codes))
        assert Path(meta["score"]).parent == scores and meta["seed"] == 5 and meta["sample_rate"] == SR
        assert {p["soundfont"] for p in meta["players"]} == {soundfont.name}


def test_rerun_keeps_existing_pieces(pieces, capsys):
    first, _, scores, soundfont = pieces
    before = {p: p.stat().st_mtime_ns for p in first.rglob("*.wav")}
    assert synth(first, scores, soundfont, 1, "--split", "all") == 0
    out = capsys.readouterr().out
    assert "0 pieces" in out and "2 already there" in out
    assert before == {p: p.stat().st_mtime_ns for p in first.rglob("*.wav")}


def test_test_split_draws_only_held_out_corpus_scores(tmp_path):
    soundfont = small_soundfont()
    assert synth_main(["--out", str(tmp_path), "--pieces", "1", "--seed", "1", "--seconds", "2", "--sample-rate",
                       str(SR), "--soundfont", str(soundfont), "--workers", "1", "--split", "test"]) == 0
    (folder,) = tmp_path.iterdir()
    assert split_of(json.loads((folder / "meta.json").read_text())["score"]) == "test"


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    assert synth_main(["--out", str(tmp_path), "--soundfont", str(tmp_path / "absent.sf2")]) == 2
    assert "no such soundfont" in capsys.readouterr().err
    soundfont = small_soundfont()
    assert synth_main(["--out", str(tmp_path), "--soundfont", str(soundfont), "--scores", str(tmp_path)]) == 2
    assert "no scores" in capsys.readouterr().err
    assert synth_main(["--out", str(tmp_path), "--soundfont", str(soundfont), "--wind-ensembles", "0.9"]) == 2
    assert "--wind-ensembles" in capsys.readouterr().err


def test_wind_ensembles_give_woodwinds_and_brass_their_share():
    from data.synth import choose_ensemble
    from fusion.instruments import instrument

    parts = [np.array([[q, 1.0, pitch] for q in range(8)], dtype=float) for pitch in (74, 67, 60, 48)]

    def windless_share(wind_ensembles):
        ensembles = [choose_ensemble(parts, np.random.default_rng(seed), wind_ensembles=wind_ensembles)
                     for seed in range(300)]
        return np.mean([all(instrument(code).family != "strings" for _, code, _ in players) for players in ensembles])

    assert windless_share(0.0) < 0.3 and windless_share(0.5) > windless_share(0.0) + 0.35


def test_a_score_whose_cached_copy_fails_is_parsed_from_its_file(pieces, monkeypatch):
    from music21 import converter

    import data.scores

    _, _, scores, _ = pieces
    path = str(sorted(Path(scores).iterdir())[0])
    expected = data.scores.load_score(path)
    parse = converter.parse

    def cache_mid_write(value, **keywords):  # another worker still writing music21's pickle of it
        if not keywords.get("forceSource"):
            raise EOFError("Compressed file ended before the end-of-stream marker was reached")
        return parse(value, **keywords)

    monkeypatch.setattr(converter, "parse", cache_mid_write)
    again = data.scores.load_score(path)
    assert len(again.parts) == len(expected.parts) >= 2
    assert all(np.array_equal(a, b) for a, b in zip(again.parts, expected.parts))


def test_a_piece_rewritten_under_another_name_replaces_the_earlier_and_a_failed_write_leaves_it(tmp_path, monkeypatch):
    import data.synth
    from data.synth import write_piece

    stems = np.full((2, 800), 0.1, dtype=np.float32)
    first = write_piece(tmp_path, 3, "Bwv1", ("vn", "vc"), stems, {"seed": 1}, 8000)
    second = write_piece(tmp_path, 3, "Bwv2", ("fl", "ob"), stems, {"seed": 2}, 8000)
    assert [p.name for p in tmp_path.iterdir()] == [second.name] and first != second
    assert sorted(p.name for p in second.iterdir())[0] == "AuMix_03_Bwv2_fl_ob.wav"

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(data.synth, "write_json", broken)
    with pytest.raises(OSError):
        write_piece(tmp_path, 3, "Bwv2", ("fl", "ob"), stems, {"seed": 3}, 8000)
    assert [p.name for p in tmp_path.iterdir()] == [second.name]  # no staging folder left, the piece kept
    assert json.loads((second / "meta.json").read_text()) == {"seed": 2}
