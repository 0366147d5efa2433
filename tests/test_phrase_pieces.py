"""Ensembles of recorded phrases: URMP layout, distinct players, stems that sum to the mix, seeded."""
import json

import numpy as np

from audio.io import write_audio
from data.phrase_pieces import main
from data.readers import read_urmp

SR = 22050


def write_library(root, codes=("violin", "oboe", "tuba"), per_instrument=8):
    """Harmonic tones of 1-3 s named like recorded phrases, plus a single note that is no phrase."""
    rng = np.random.default_rng(0)
    for name in codes:
        for k in range(per_instrument):
            t = np.arange(int(rng.uniform(1, 3) * SR)) / SR
            tone = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 800) * t) * np.hanning(len(t))
            write_audio(root / name / f"{name}_C4_phrase_forte_take{k}.wav", tone, SR)
    write_audio(root / "violin" / "violin_C4_1_forte_arco-normal.wav", np.ones(SR) * 0.1, SR)
    return root


def test_pieces_hold_distinct_players_of_the_library_and_are_seeded(tmp_path):
    library = write_library(tmp_path / "lib")
    args = ["--samples", str(library), "--pieces", "3", "--seconds", "4", "--workers", "1", "--seed", "5"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    tracks = read_urmp(tmp_path / "a")
    assert len(tracks) == 3
    for track in tracks:
        codes = track.labels
        assert 2 <= len(codes) <= 3 and len(set(codes)) == len(codes) and set(codes) <= {"vn", "ob", "tba"}
        stems, mixture = [audio for _, audio in track.stems()], track.mixture()
        np.testing.assert_allclose(sum(stems), mixture, atol=1e-4)
        assert all(np.sqrt(np.mean(stem ** 2)) > 1e-3 for stem in stems)
    meta = json.loads(next((tmp_path / "a").glob("01_*/meta.json")).read_text())
    assert meta["score"] == "phrases/pool00" and meta["seed"] == 5  # 24 phrases: one pool
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    for first, second in zip(read_urmp(tmp_path / "a"), read_urmp(tmp_path / "b")):
        np.testing.assert_array_equal(first.mixture(), second.mixture())


def test_a_library_without_phrases_of_two_instruments_is_one_line(tmp_path, capsys):
    assert main(["--samples", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "no recorded phrases" in capsys.readouterr().err
    library = write_library(tmp_path / "solo", codes=("violin",))
    assert main(["--samples", str(library), "--out", str(tmp_path / "out"), "--pieces", "1", "--workers", "1"]) == 1
    assert "one instrument" in capsys.readouterr().err


def test_a_phrase_that_does_not_decode_becomes_a_rest(tmp_path):
    import pytest

    from data.phrase_pieces import player_stem

    library = write_library(tmp_path / "lib", codes=("oboe",), per_instrument=1)
    broken = library / "oboe" / "oboe_C4_phrase_forte_broken.mp3"
    broken.write_bytes(b"not audio at all")
    with pytest.warns(UserWarning, match="does not decode"):
        assert np.all(player_stem([str(broken)], SR, SR, np.random.default_rng(1)) == 0)  # only rests
    stem = player_stem([str(broken), str(next((library / "oboe").glob("*take0.wav")))], 6 * SR, SR,
                       np.random.default_rng(1))
    assert stem.shape == (6 * SR,) and np.abs(stem).max() > 0  # the good phrase still plays
