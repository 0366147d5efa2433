"""Rendering from recorded samples (``data.samples``), rooms (``data.room``) and ``data.synth --samples``."""
import json
import warnings

import numpy as np
import pytest
import soundfile

from common.errors import AvsepError
from conftest import shared_file
from data.room import draw_room, room_impulses
from data.samples import DYNAMICS, SampleLibrary, parse_pitch, parse_sample_name
from data.synth import draw_source, main as synth_main, timbre_pool
from fusion.instruments import INSTRUMENTS, instrument
from test_synth import write_midi_scores

SR = 16000
LEVELS = {"pianissimo": 0.03, "fortissimo": 0.4}
NAMES = {"vn": "violin", "va": "viola", "vc": "cello", "db": "double-bass", "fl": "flute", "ob": "oboe",
         "cl": "clarinet", "sax": "saxophone", "bn": "bassoon", "tpt": "trumpet", "hn": "french-horn",
         "tbn": "trombone", "tba": "tuba"}
NOTE_TEXT = ("C", "Cs", "D", "Ds", "E", "F", "Fs", "G", "Gs", "A", "As", "B")


def pitch_text(midi):
    return f"{NOTE_TEXT[midi % 12]}{midi // 12 - 1}"


def tone(midi, level, seconds=1.3, lead_s=0.05):
    """A harmonic tone (fundamental strongest) after a little silence, like a recorded note."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = 440 * 2 ** ((midi - 69) / 12)
    partials = sum(a * np.sin(2 * np.pi * k * f0 * t) for k, a in ((1, 1.0), (2, 0.4), (3, 0.2)) if k * f0 < SR / 2)
    envelope = np.minimum(1, t / 0.03) * np.minimum(1, (seconds - t) / 0.1)
    return np.concatenate([np.zeros(int(lead_s * SR)), level * partials * envelope / 1.6]).astype(np.float32)


def recorded_pitches(code):
    """Every 4th semitone of the instrument's range: any pitch in it is within 2 semitones of one."""
    spec = instrument(code)
    return range(spec.lowest_pitch, spec.highest_pitch + 3, 4)


def write_library(folder, codes=tuple(NAMES)):
    """A tiny sample library: for each instrument, tones every 4 semitones at pp and ff, 1 s, ordinary."""
    for code in codes:
        articulation = "arco-normal" if instrument(code).family == "strings" else "normal"
        for midi in recorded_pitches(code):
            for dynamic, level in LEVELS.items():
                path = folder / NAMES[code] / f"{NAMES[code]}_{pitch_text(midi)}_1_{dynamic}_{articulation}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                soundfile.write(path, tone(midi, level), SR)
    return folder


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory):
    return write_library(tmp_path_factory.mktemp("samples"))


def fundamental_hz(audio, sample_rate, expected_hz):
    """The strongest spectral peak within a semitone of ``expected_hz`` (zero-padded FFT, parabolic peak)."""
    segment = audio[int(0.1 * sample_rate): int(0.7 * sample_rate)]
    size = 16 * len(segment)
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment)), size))
    bins = np.fft.rfftfreq(size, 1 / sample_rate)
    inside = np.flatnonzero((bins > expected_hz * 2 ** (-1 / 12)) & (bins < expected_hz * 2 ** (1 / 12)))
    peak = inside[np.argmax(spectrum[inside])]
    a, b, c = np.log(spectrum[peak - 1: peak + 2] + 1e-12)
    return bins[peak] + 0.5 * (a - c) / (a - 2 * b + c) * (bins[1] - bins[0])


def cents(measured_hz, midi):
    return 1200 * np.log2(measured_hz / (440 * 2 ** ((midi - 69) / 12)))


def plain_style(library, code):
    return {**library.choose_style(code, np.random.default_rng(0)), "pizzicato": False}


def test_names_parse_into_pitch_duration_dynamic_articulation():
    assert parse_pitch("As4") == 70 and parse_pitch("C4") == 60 and parse_pitch("B0") == 23
    sample = parse_sample_name("french-horn_Gs2_very-long_mezzo-piano_normal.mp3")
    assert (sample.code, sample.pitch, sample.duration_s, DYNAMICS[sample.dynamic]) == ("hn", 44, 5.0, "mezzo-piano")
    assert parse_sample_name("double_bass_E1_025_forte_pizz-normal.mp3").articulation == "pizz-normal"
    assert parse_sample_name("violin_A3_phrase_forte_arco-spiccato.mp3") is None  # a phrase, not one note
    assert parse_sample_name("cello_A3_long_crescendo_arco-normal.mp3") is None  # not a steady dynamic


@pytest.mark.parametrize("code", [i.code for i in INSTRUMENTS])
def test_every_instrument_renders_the_score_pitch_within_30_cents(library_dir, code):
    library = SampleLibrary(library_dir)
    midi = recorded_pitches(code)[1] + 1  # between recordings: repitched by a semitone
    events = np.array([[0.0, 0.8, midi, 100, 0]])
    audio = library.render_part(code, events, 22050, np.random.default_rng(1), style=plain_style(library, code))
    expected = 440 * 2 ** ((midi - 69) / 12)
    assert abs(cents(fundamental_hz(audio, 22050, expected), midi)) < 30


def test_fortissimo_renders_louder_than_pianissimo(library_dir):
    library = SampleLibrary(library_dir)
    style = plain_style(library, "vn")
    loud, soft = (library.render_part("vn", np.array([[0.0, 0.8, 67, velocity, 0]]), SR, np.random.default_rng(2),
                                      style=style) for velocity in (120, 25))
    assert np.sqrt(np.mean(loud ** 2)) > 4 * np.sqrt(np.mean(soft ** 2))


def test_a_note_is_cut_at_its_end_with_a_release(library_dir):
    library = SampleLibrary(library_dir)
    audio = library.render_part("fl", np.array([[0.0, 0.3, 72, 100, 0]]), SR, np.random.default_rng(3),
                                style=plain_style(library, "fl"))
    held, released = audio[int(0.1 * SR): int(0.3 * SR)], audio[int(0.45 * SR):]
    assert np.abs(held).max() > 0.1
    assert np.abs(released).max() < 0.15 * np.abs(held).max()  # the 1.3 s recording does not ring on
    assert len(audio) < 0.7 * SR


def test_an_undecodable_sample_warns_and_the_next_nearest_is_used(tmp_path):
    folder = write_library(tmp_path / "lib", codes=("vn",))
    broken = folder / "violin" / f"violin_{pitch_text(67)}_1_fortissimo_arco-normal.wav"
    broken.write_text("not audio")
    library = SampleLibrary(folder)
    with pytest.warns(UserWarning, match="does not decode"):
        audio = library.render_part("vn", np.array([[0.0, 0.8, 67, 120, 0]]), SR, np.random.default_rng(4),
                                    style=plain_style(library, "vn"))
    assert abs(cents(fundamental_hz(audio, SR, 392.0), 67)) < 30  # from G4 pp, or a neighbour repitched


def test_slurred_notes_join_without_a_gap(library_dir):
    library = SampleLibrary(library_dir)
    style = plain_style(library, "cl")

    def render(slurred):  # two notes with a 100 ms rest between them unless slurred
        end = 0.54 if slurred else 0.4
        events = np.array([[0.0, end, 62, 100, slurred], [0.5, 1.0, 64, 100, 0]])
        return library.render_part("cl", events, SR, np.random.default_rng(5), style=style)

    def level_at(audio, second):
        return np.sqrt(np.mean(audio[int((second - 0.02) * SR): int((second + 0.02) * SR)] ** 2))

    slurred, detached = render(1), render(0)
    assert level_at(slurred, 0.5) > 0.5 * level_at(slurred, 0.3)  # no dip where the notes meet
    assert level_at(slurred, 0.47) > 2 * level_at(detached, 0.47)


def test_rooms_have_the_reverberation_time_drawn():
    from pyroomacoustics.experimental import measure_rt60

    for seed in range(3):
        room = draw_room(np.random.default_rng(seed), 3)
        impulses = room_impulses(room, 16000)
        assert impulses.shape[0] == 3
        measured = measure_rt60(impulses[0], fs=16000, decay_db=30)
        assert 0.6 * room["rt60_s"] < measured < 1.4 * room["rt60_s"]
        assert not np.allclose(impulses[0], impulses[1])  # players stand in different places
    np.testing.assert_array_equal(room_impulses(draw_room(np.random.default_rng(9), 2), 16000),
                                  room_impulses(draw_room(np.random.default_rng(9), 2), 16000))


def synth_from_samples(out, library, scores, *extra):
    return synth_main(["--out", str(out), "--pieces", "2", "--seed", "4", "--seconds", "3", "--sample-rate", "8000",
                       "--samples", str(library), "--scores", str(scores), "--split", "all", "--workers", "1", *extra])


@pytest.fixture(scope="module")
def sample_pieces(tmp_path_factory, library_dir):
    scores = write_midi_scores(tmp_path_factory.mktemp("scores"))
    first, second = tmp_path_factory.mktemp("from_samples_a"), tmp_path_factory.mktemp("from_samples_b")
    assert synth_from_samples(first, library_dir, scores) == 0
    assert synth_from_samples(second, library_dir, scores) == 0
    return first, second


def test_synth_from_samples_same_seed_same_audio_and_mix_is_the_sum(sample_pieces, library_dir):
    first, second = sample_pieces
    folders = sorted(p.name for p in first.iterdir())
    assert len(folders) == 2 and folders == sorted(p.name for p in second.iterdir())
    for name in folders:
        stems = []
        for path in sorted((first / name).glob("AuSep_*.wav")):
            audio, _ = soundfile.read(path, dtype="float32")
            np.testing.assert_array_equal(audio, soundfile.read(second / name / path.name, dtype="float32")[0])
            stems.append(audio)
        mix, _ = soundfile.read(next((first / name).glob("AuMix_*.wav")), dtype="float32")
        assert {s.shape for s in stems} == {mix.shape}
        np.testing.assert_array_equal(np.sum(stems, axis=0, dtype=np.float32), mix)
        meta = json.loads((first / name / "meta.json").read_text())
        assert all(p["source"] == f"{library_dir.name}/{instrument(p['code']).name.replace(' ', '_')}"
                   for p in meta["players"])


def one_note_library(folder, midi=69):
    """A library with a single violin note: a gap everywhere else."""
    path = folder / f"violin_{pitch_text(midi)}_1_fortissimo_arco-normal.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, tone(midi, 0.4), SR)
    return SampleLibrary(folder)


def test_a_library_plays_only_parts_within_a_repitch_of_its_notes(tmp_path, library_dir):
    sparse, full = one_note_library(tmp_path / "sparse"), SampleLibrary(library_dir)
    assert sparse.can_play("vn", [67, 69, 71]) and not sparse.can_play("vn", [67, 72]) and not sparse.can_play("va", [69])

    def drawn(pitches, libraries, soundfonts=()):
        sources = (draw_source("vn", np.array(pitches), list(soundfonts), libraries, 1.0, np.random.default_rng(seed))
                   for seed in range(40))
        return {getattr(source, "name", source) for source in sources}

    assert drawn([68, 70], [full, sparse]) == {full.name, "sparse"}
    assert drawn([60, 69], [full, sparse]) == {full.name}
    assert drawn([60, 69], [sparse], soundfonts=["x.sf2"]) == {"x.sf2"}
    assert drawn([60, 69], [sparse]) == {"sparse"}  # libraries only: the one holding the instrument, gaps and all


def test_an_instrument_without_samples_is_a_one_line_error_naming_it(tmp_path, capsys):
    library = write_library(tmp_path / "lib", codes=[c for c in NAMES if c != "tba"])
    assert synth_from_samples(tmp_path / "out", library, write_midi_scores(tmp_path / "scores")) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "tuba (tba)" in err and err.startswith("error:")


def test_a_soundfont_in_the_pool_plays_the_instruments_no_library_has(tmp_path):
    library = write_library(tmp_path / "lib", codes=["vn", "vc"])
    soundfont = tmp_path / "any.sf2"
    soundfont.write_bytes(b"")
    soundfonts, libraries = timbre_pool([soundfont], [library])
    assert soundfonts == [str(soundfont)] and libraries[0].codes == ("vn", "vc")
    with pytest.raises(AvsepError, match="no samples for viola"):
        timbre_pool(None, [library])


def test_samples_on_a_folder_without_samples_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("nothing here")
    assert synth_from_samples(tmp_path / "out", tmp_path / "empty", write_midi_scores(tmp_path / "scores")) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no instrument samples" in err


def test_real_philharmonia_notes_render_at_the_score_pitch():
    folder = shared_file("data/samples/philharmonia")
    library = SampleLibrary(folder)
    rng = np.random.default_rng(6)
    for spec in INSTRUMENTS:
        midi = (spec.lowest_pitch + spec.highest_pitch) // 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a few files of the library may not decode
            audio = library.render_part(spec.code, np.array([[0.0, 0.9, midi, 90, 0]]), 22050, rng,
                                        style=plain_style(library, spec.code))
        measured = fundamental_hz(audio, 22050, 440 * 2 ** ((midi - 69) / 12))
        assert abs(cents(measured, midi)) < 30, spec.name


def test_force_replaces_a_finished_piece_and_leaves_no_temporary_folders(tmp_path, library_dir):
    scores = write_midi_scores(tmp_path / "scores")
    assert synth_from_samples(tmp_path / "out", library_dir, scores) == 0
    before = sorted(p.name for p in (tmp_path / "out").iterdir())
    stale = next((tmp_path / "out").glob("01_*")) / "stale.txt"
    stale.write_text("from an earlier run")
    assert synth_from_samples(tmp_path / "out", library_dir, scores, "--force") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == before  # no .tmp-/.old- folders left
    assert not stale.exists()


def test_every_drawn_room_is_one_pyroomacoustics_can_build():
    from data.room import sabine_shortest_rt60

    for seed in range(60):  # large halls with short RT60s used to fail in pyroomacoustics
        room = draw_room(np.random.default_rng([11, seed]), 4)
        assert sabine_shortest_rt60(np.array(room["size_m"])) <= 0.7 * room["rt60_s"] + 1e-6
        assert room_impulses(room, 8000).shape[0] == 4
