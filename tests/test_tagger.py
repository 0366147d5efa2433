"""The instrument tagger: features, labels of its training examples, training with resume, running it."""
import json

import numpy as np
import pytest

from audio.features import N_FFT, NB_MELS, SAMPLE_RATE, log_mel, mel_filterbank, nb_frames
from audio.io import write_audio
from common.errors import ConfigError
from data.readers import read_urmp
from data.tag_sampler import TagSampler, heard
from fusion.instruments import index_of
from fusion.presence import Presence


def write_piece(root, number, codes, seconds=4.0, resting=None):
    """A URMP-layout piece of harmonic tones at 16 kHz; the ``resting`` code is silent in its second half."""
    folder = root / f"{number:02d}_Tones_{'_'.join(codes)}"
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    stems = []
    for i, code in enumerate(codes):
        stem = sum(0.1 / k * np.sin(2 * np.pi * k * 200 * (1 + i) * t) for k in range(1, 6))
        if code == resting:
            stem[len(t) // 2:] = 0
        stems.append(stem)
    for part, (code, stem) in enumerate(zip(codes, stems), start=1):
        write_audio(folder / f"AuSep_{part}_{code}_{number:02d}_Tones.wav", stem, SAMPLE_RATE)
    write_audio(folder / f"AuMix_{folder.name}.wav", np.sum(stems, axis=0), SAMPLE_RATE)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("tones")
    write_piece(root, 1, ("vn", "vc"), resting="vc")
    write_piece(root, 2, ("fl", "bn"))
    clips = root / "accompaniment"
    clips.mkdir()
    rng = np.random.default_rng(0)
    write_audio(clips / "0001_piano.wav", 0.1 * rng.standard_normal(4 * SAMPLE_RATE), SAMPLE_RATE)
    return root


def test_log_mel_shape_and_level():
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)
    features = log_mel(np.stack([tone, np.zeros_like(tone)]))
    assert features.shape == (2, nb_frames(SAMPLE_RATE), NB_MELS)
    assert features[1].max() == pytest.approx(-5.0)  # silence sits on the floor, -100 dB / 20
    loudest_band = features[0].mean(axis=0).argmax()
    bin_440 = round(440 * N_FFT / SAMPLE_RATE)
    assert loudest_band == mel_filterbank()[bin_440].argmax()  # the band whose filter peaks at 440 Hz
    assert features[0, :, loudest_band].mean() > -2


def test_a_player_resting_through_the_window_is_labelled_absent():
    targets = np.zeros((13, 1000), dtype=np.float32)
    targets[index_of("vn")] = 0.1
    targets[index_of("vc")] = 1e-5  # resting: a reverb tail far below the violin
    presence = np.zeros(13, dtype=np.float32)
    presence[[index_of("vn"), index_of("vc")]] = 1
    labels = heard(targets, presence)
    assert labels[index_of("vn")] == 1 and labels[index_of("vc")] == 0 and labels.sum() == 1


def test_sampler_batches_are_labelled_deterministic_and_hold_nothing_of_ours_too(dataset):
    from audio.features import SAMPLE_RATE
    from data.sampler import read_clips

    tracks = read_urmp(dataset, sample_rate=SAMPLE_RATE)
    clips = read_clips(sorted((dataset / "accompaniment").glob("*.wav")), SAMPLE_RATE)
    sampler = TagSampler(tracks, clips, batch_size=64, seed=3, nothing_probability=0.2)
    features, labels = sampler.batch(5)
    assert features.shape == (64, nb_frames(3 * SAMPLE_RATE), NB_MELS) and labels.shape == (64, 13)
    np.testing.assert_array_equal(sampler.batch(5)[0], features)
    assert set(np.flatnonzero(labels.sum(axis=0))) <= {index_of(c) for c in ("vn", "vc", "fl", "bn")}
    assert (labels.sum(axis=1) == 0).any() and (labels.sum(axis=1) >= 1).any()


def tagger_config(steps=4):
    """A tiny tagger; without dropout, whose masks a resumed run does not replay."""
    return {"model": {"filters": [4, 8, 8, 8], "dense": 8, "dropout": 0.0}, "data": {},
            "training": {"batch_size": 4, "steps": steps, "learning_rate": 1e-3, "seed": 0, "log_every": 1,
                         "validate_every": 2, "checkpoint_every": 2}}


def test_training_resumes_exactly_and_the_tagger_runs_on_a_video(dataset, tmp_path, sine_video):
    from audio.tagger import InstrumentTagger, tag_media
    from audio.train_tagger import train_tagger

    tracks = read_urmp(dataset, sample_rate=SAMPLE_RATE)
    sampler = TagSampler(tracks, [], batch_size=4, seed=1)
    validation = sampler.batch(1000)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train_tagger(tagger_config(), straight, sampler, validation, progress=False)
    train_tagger(tagger_config(), resumed, sampler, validation, max_steps=2, progress=False)  # "killed" at 2
    state = train_tagger(tagger_config(), resumed, sampler, validation, progress=False)
    assert state["step"] == 4

    def losses(run):
        return [json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines() if "loss" in line]

    assert losses(resumed) == pytest.approx(losses(straight), rel=1e-4)
    card = json.loads((resumed / "tagger.json").read_text())
    assert card["vocabulary"][0] == "vn" and card["sample_rate"] == SAMPLE_RATE and "f1" in card["validation"]

    tagger = InstrumentTagger(resumed / "tagger.keras", batch_size=4)
    sound = np.random.default_rng(2).standard_normal(int(6.3 * SAMPLE_RATE)).astype(np.float32) * 0.1
    times, whole, nb_samples = tagger.probabilities([sound])
    np.testing.assert_allclose(times, np.arange(7))  # centres 0..6 s
    assert nb_samples == len(sound) and whole.shape == (7, 13)
    for cuts in ([1000, 50000], [16000 * k for k in range(1, 7)]):  # blocks shorter and longer than a window
        _, streamed, _ = tagger.probabilities(np.split(sound, cuts))
        np.testing.assert_allclose(streamed, whole, atol=1e-5)
    presence = tag_media(sine_video, tagger)  # ~3 s of sound: a window centred on every second
    nb_windows = int(np.ceil(presence.meta["duration_s"]))
    assert presence.meta["source"] == "audio" and presence.values.shape == (nb_windows, 13) and nb_windows >= 3
    np.testing.assert_allclose(presence.times, np.arange(nb_windows))
    assert np.all((presence.values >= 0) & (presence.values <= 1))


def test_a_missing_or_broken_tagger_is_one_line(tmp_path):
    from audio.tagger import InstrumentTagger

    with pytest.raises(ConfigError, match="train one"):
        InstrumentTagger(tmp_path / "absent.keras")
    (tmp_path / "broken.keras").write_text("no model")
    with pytest.raises(ConfigError, match="cannot load"):
        InstrumentTagger(tmp_path / "broken.keras")
    from audio.tagger import build_tagger

    build_tagger(filters=(4, 4, 4, 4), dense=4).save(tmp_path / "tagger.keras")
    for text, why in (("{not json", "is not valid JSON"), ("[0.6]", "must hold a JSON object")):
        (tmp_path / "tagger.json").write_text(text)
        with pytest.raises(ConfigError, match=why):
            InstrumentTagger(tmp_path / "tagger.keras")


def test_accompaniment_clips_are_rendered_outside_the_vocabulary(tmp_path):
    from data.accompaniment import OTHER_PROGRAMS, main

    soundfont = "/usr/share/sounds/sf2/TimGM6mb.sf2"
    assert main(["--out", str(tmp_path), "--clips", "2", "--seconds", "4", "--workers", "1",
                 "--soundfont", soundfont]) == 0
    entries = json.loads((tmp_path / "meta.json").read_text())
    assert [e["clip"] for e in entries] == [1, 2] and all(e["program"] in OTHER_PROGRAMS for e in entries)
    from audio.io import read_audio

    for entry in entries:
        audio, rate = read_audio(tmp_path / f"{entry['clip']:04d}_{entry['instrument']}.wav")
        assert rate == 22050 and np.abs(audio).max() == pytest.approx(0.5, abs=1e-3)
    assert main(["--out", str(tmp_path), "--clips", "2", "--soundfont", soundfont]) == 0  # nothing to redo


def test_a_new_run_starts_from_the_weights_of_init_from(dataset, tmp_path):
    from audio.backend import keras
    from audio.train_tagger import restore, train_tagger

    sampler = TagSampler(read_urmp(dataset, sample_rate=SAMPLE_RATE), [], batch_size=4, seed=1)
    train_tagger(tagger_config(steps=2), tmp_path / "first", sampler, progress=False)
    config = tagger_config()
    config["training"].update(init_from=str(tmp_path / "first" / "tagger.keras"), decay={"rate": 0.5, "steps": 2})
    model, state = restore(tmp_path / "second", config)
    first = keras.saving.load_model(tmp_path / "first" / "tagger.keras")
    assert state["step"] == 0
    for mine, theirs in zip(model.get_weights(), first.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    config["model"]["dense"] = 16
    with pytest.raises(ConfigError, match="another architecture"):
        restore(tmp_path / "third", config)


def test_recorded_phrases_and_notes_are_told_apart_by_name_and_a_folder_without_any_is_one_line(tmp_path):
    from pipelines.train_tagger import library_recordings

    tone = 0.1 * np.sin(np.arange(SAMPLE_RATE) / 5)
    for name in ("violin_A3_phrase_forte_arco-normal", "double_bass_E1_phrase_piano_arco-legato",
                 "violin_A3_1_forte_arco-normal", "double_bass_E1_05_piano_arco-normal",
                 "piano_C4_phrase_forte_normal", "piano_C4_1_forte_normal"):
        write_audio(tmp_path / "lib" / f"{name}.wav", tone, SAMPLE_RATE)
        kind = "phrases" if "_phrase_" in name else "notes"
        write_audio(tmp_path / kind / f"{name}.wav", tone, SAMPLE_RATE)
    for kind, folder_without in (("phrases", "notes"), ("notes", "phrases")):
        found = library_recordings(kind, [tmp_path / "lib"])
        assert [(code, path.stem.split("_")[0]) for code, path in found] == [("db", "double"), ("vn", "violin")]
        assert all((kind == "phrases") == ("_phrase_" in path.stem) for _, path in found)
        with pytest.raises(ConfigError, match=f"no recorded {kind}"):
            library_recordings(kind, [tmp_path / folder_without])


def test_recorded_phrases_are_heard_alone_and_over_ensembles(dataset):
    tracks = read_urmp(dataset, sample_rate=SAMPLE_RATE)
    t = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    phrases = [(index_of("ob"), (0.2 * np.sin(2 * np.pi * 523 * t)).astype(np.float32)),
               (index_of("tba"), (0.2 * np.sin(2 * np.pi * 55 * np.arange(5 * SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32))]
    sampler = TagSampler(tracks, [], batch_size=64, seed=3, nothing_probability=0.0, phrases=phrases,
                         phrase_probability=1.0)
    _, labels = sampler.batch(0)
    ours = labels[:, [index_of("ob"), index_of("tba")]]
    assert np.all(ours.sum(axis=1) == 1)  # one phrase in every example, always heard
    others = labels.sum(axis=1) - ours.sum(axis=1)
    assert (others == 0).sum() >= 16 and (others >= 1).sum() >= 16  # solos and phrases over ensembles
    without = TagSampler(tracks, [], batch_size=64, seed=3, nothing_probability=0.0)
    unused = TagSampler(tracks, [], batch_size=64, seed=3, nothing_probability=0.0, phrases=phrases)
    np.testing.assert_array_equal(unused.batch(0)[0], without.batch(0)[0])  # probability 0: the same examples


def test_note_lines_fill_the_window_with_one_instrument_drawn_evenly(dataset):
    tracks = read_urmp(dataset, sample_rate=SAMPLE_RATE)
    t = np.arange(int(0.4 * SAMPLE_RATE)) / SAMPLE_RATE
    oboe = [(index_of("ob"), (0.2 * np.sin(2 * np.pi * f * t)).astype(np.float32)) for f in range(500, 590, 10)]
    tuba = [(index_of("tba"), (0.2 * np.sin(2 * np.pi * 55 * t)).astype(np.float32))]  # 9 oboe notes, 1 tuba
    sampler = TagSampler(tracks, [], batch_size=64, seed=3, nothing_probability=0.0, notes=oboe + tuba,
                         note_probability=1.0)
    _, labels = sampler.batch(0)
    ours = labels[:, [index_of("ob"), index_of("tba")]]
    assert np.all(ours.sum(axis=1) == 1)  # one line in every example, always heard
    assert ours[:, 1].sum() >= 16  # the instrument is drawn evenly, not by its number of notes
    others = labels.sum(axis=1) - ours.sum(axis=1)
    assert (others == 0).sum() >= 16 and (others >= 1).sum() >= 16  # solos and lines over ensembles
    rng = np.random.default_rng(0)
    for _ in range(8):
        index, window = sampler._note_line(rng)
        quarters = window.reshape(4, -1)
        assert index in (index_of("ob"), index_of("tba")) and np.all(np.abs(quarters).max(axis=1) > 0.01)
    without = TagSampler(tracks, [], batch_size=64, seed=3, nothing_probability=0.0)
    unused = TagSampler(tracks, [], batch_size=64, seed=3, nothing_probability=0.0, notes=oboe + tuba)
    np.testing.assert_array_equal(unused.batch(0)[0], without.batch(0)[0])  # probability 0: the same examples


def test_fine_tuning_the_tagger_validates_its_starting_point_first(dataset, tmp_path):
    from audio.train_tagger import train_tagger

    sampler = TagSampler(read_urmp(dataset, sample_rate=SAMPLE_RATE), [], batch_size=4, seed=1)
    train_tagger(tagger_config(steps=2), tmp_path / "first", sampler, progress=False)
    config = tagger_config(steps=2)
    config["training"]["init_from"] = str(tmp_path / "first" / "tagger.keras")
    train_tagger(config, tmp_path / "second", sampler, sampler.batch(1000), progress=False)
    steps = [json.loads(line)["step"] for line in (tmp_path / "second" / "metrics.jsonl").read_text().splitlines()
             if "validation_f1" in line]
    assert steps == [0, 2]


def test_a_tagger_trained_with_weight_averaging_saves_the_average_and_resumes_it(dataset, tmp_path):
    from audio.backend import keras
    from audio.train_tagger import restore, train_tagger

    sampler = TagSampler(read_urmp(dataset, sample_rate=SAMPLE_RATE), [], batch_size=4, seed=1)
    config = tagger_config()
    config["training"]["ema"] = 0.5
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train_tagger(config, straight, sampler, progress=False)
    train_tagger(config, resumed, sampler, max_steps=2, progress=False)  # "killed" at 2, averages checkpointed
    train_tagger(config, resumed, sampler, progress=False)
    checkpoint, state = restore(straight, config)
    assert state["step"] == 4
    averages = [np.array(v) for v in checkpoint.optimizer._model_variables_moving_average]
    for run in (straight, resumed):
        saved = keras.saving.load_model(run / "tagger.keras").trainable_weights
        for weight, average in zip(saved, averages):
            np.testing.assert_allclose(np.array(weight), average, atol=1e-5)
    assert any(not np.allclose(np.array(w), a) for w, a in zip(checkpoint.trainable_weights, averages))


def test_the_training_job_holds_out_a_tenth_of_the_notes_and_the_sampler_plays_them(dataset, tmp_path):
    from pipelines.train_tagger import make_samplers

    t = np.arange(SAMPLE_RATE // 2) / SAMPLE_RATE
    for octave in (3, 4):
        for step, pitch in enumerate("CDEFGAB"):
            tone = 0.2 * np.sin(2 * np.pi * 130 * octave * (1 + step / 12) * t)
            write_audio(tmp_path / "lib" / f"oboe_{pitch}{octave}_05_forte_normal.wav", tone, SAMPLE_RATE)
    config = {"data": {"train": [str(dataset)], "notes": [str(tmp_path / "lib")], "note_probability": 1.0,
                       "validation_batches": 1},
              "training": {"batch_size": 8, "seed": 0}}
    sampler, (features, labels), description = make_samplers(config)
    assert description["train_notes"] == 12 and description["note_probability"] == 1.0  # 14 notes, 2 held out
    assert len(sampler.notes_by_instrument[index_of("ob")]) == 12
    for batch_labels in (sampler.batch(0)[1], labels):  # a line in every example but those of nothing of ours
        heard_anything = batch_labels.sum(axis=1) > 0
        assert heard_anything.sum() >= 4 and np.all(batch_labels[:, index_of("ob")] == heard_anything)


def test_when_no_instrument_is_sure_the_ones_near_the_likeliest_doubtful_one_are_named():
    from audio.tagger import likeliest_when_unsure

    values = np.zeros((4, 13), dtype=np.float32)
    values[:, 0] = [0.1, 0.4, 0.55, 0.1]    # vn, the likeliest, doubtful over the clip
    values[:, 1] = [0.25, 0.25, 0.25, 0.25]  # va, within 0.6 of it (0.24)
    values[:, 2] = [0.2, 0.2, 0.2, 0.2]      # vc, not
    clip = np.array([0.4, 0.25, 0.2] + [0.0] * 10, np.float32)
    heard = Presence(np.arange(4.0), values, clip, 1.0, {"source": "audio"})
    named = likeliest_when_unsure(heard, ratio=0.6)
    assert named.present_codes() == ("vn", "va") and named.meta["unsure_gain"] == pytest.approx(0.5 / 0.24, rel=1e-4)
    assert named.values[1, 0] == pytest.approx(0.4 * 0.5 / 0.24, rel=1e-4) and named.values[2, 0] == 1.0  # capped
    assert (named.values[:, 1] >= 0.5).all() and (named.values[:, 2] < 0.5).all()
    assert heard.present_codes() == ()  # the original is left alone
    for likeliest in (0.5, 0.2):  # someone is sure, or nobody is even doubtful: as it was
        clip = np.array([likeliest, 0.19] + [0.0] * 11, np.float32)
        assert likeliest_when_unsure(Presence(np.arange(4.0), values, clip, 1.0, {}), ratio=0.6).clip is clip
