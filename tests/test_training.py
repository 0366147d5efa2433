import itertools
import json
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from audio import step_loop
from audio.train import train
from audio.architectures import load_separator
from audio.separator import Separator
from audio.waveunet import waveunet_lengths
from data.batch_workers import ParallelBatches
from data.sampler import StemSampler, equalised, random_equaliser, repitched
from data.readers import read_urmp
from data.tracks import validation_split
from fusion.instruments import presence_vector
from pipelines.train import load_config, main as train_main
from tests.sine_pieces import SR, write_piece


TINY_MODEL = {"output_length": 512, "nb_levels": 3, "nb_filters": 4, "kernel_size_down": 5, "kernel_size_up": 3,
              "sample_rate": SR}


def config(**training):
    settings = {"batch_size": 2, "steps": 4, "learning_rate": 1e-3, "decay": None, "loss": "mse",
                "precision": "float32", "seed": 0, "log_every": 1, "checkpoint_every": 2, "validate_every": 2,
                "patience": 3}
    settings.update(training)
    return {"model": dict(TINY_MODEL), "data": {}, "training": settings}


def sampler_for(dataset, batch_size=2):
    input_length, output_length = waveunet_lengths(512, 3, 5, 3)
    return StemSampler(read_urmp(dataset), input_length, output_length, batch_size, seed=1)


def test_urmp_reader_sums_same_instrument_stems(dataset):
    tracks = read_urmp(dataset)
    assert [t.name for t in tracks][2] == "03_Sines_vn_vn_va"
    track = tracks[2]
    assert track.codes == ("vn", "vn", "va")
    np.testing.assert_array_equal(track.presence, presence_vector(("vn", "va")))
    targets, mixture = track.targets(), track.mixture()
    assert targets.shape == (13, 1, SR) and mixture.shape == (1, SR)
    np.testing.assert_allclose(targets.sum(axis=0), mixture, atol=1e-6)
    assert np.all(targets[2] == 0)  # no cello


def test_sampler_batches_are_consistent_and_deterministic(dataset):
    sampler = sampler_for(dataset, batch_size=6)
    inputs, targets = sampler.batch(3)
    assert inputs["mix"].shape == (6, sampler.input_length, 1) and targets.shape == (6, 13, sampler.output_length, 1)
    context = sampler.context
    for mix, presence, target in zip(inputs["mix"], inputs["presence"], targets):
        # the target region of the mix is the sum of the targets, absent instruments are silent
        np.testing.assert_allclose(target.sum(axis=0), mix[context:context + sampler.output_length], atol=1e-5)
        assert np.all(target[presence == 0] == 0) and presence.sum() >= 1
    again, _ = sampler.batch(3)
    np.testing.assert_array_equal(again["mix"], inputs["mix"])
    assert not np.array_equal(sampler.batch(4)[0]["mix"], inputs["mix"])


@pytest.mark.parametrize("augmentation", [{"eq_db": 6.0}, {"repitch_semitones": 2.0}])
def test_augmented_stems_stay_the_targets_of_their_mix(dataset, augmentation):
    input_length, output_length = waveunet_lengths(512, 3, 5, 3)
    plain = sampler_for(dataset, batch_size=6)
    augmented = StemSampler(read_urmp(dataset), input_length, output_length, 6, seed=1, sample_rate=SR, **augmentation)
    switched_off = StemSampler(read_urmp(dataset), input_length, output_length, 6, seed=1, sample_rate=SR,
                               **{key: 0.0 for key in augmentation})
    inputs, targets = augmented.batch(3)
    context = augmented.context
    for mix, target in zip(inputs["mix"], targets):
        np.testing.assert_allclose(target.sum(axis=0), mix[context:context + output_length], atol=1e-5)
    assert not np.allclose(inputs["mix"], plain.batch(3)[0]["mix"], atol=1e-3)
    np.testing.assert_array_equal(switched_off.batch(3)[0]["mix"], plain.batch(3)[0]["mix"])


def test_the_random_equaliser_stays_within_its_range_and_changes_the_spectrum():
    rng = np.random.default_rng(0)
    gains_db = [20 * np.log10(random_equaliser(rng, 4096, SR, 6.0)) for _ in range(50)]
    assert max(np.abs(g).max() for g in gains_db) <= 12.0 + 1e-4  # a tilt and a bell, each within 6 dB
    assert np.mean([np.abs(g).max() > 2.0 for g in gains_db]) > 0.5
    t = np.arange(4096) / SR
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    flat = np.ones(4096 // 2 + 1, np.float32)
    np.testing.assert_allclose(equalised(tone, flat), tone, atol=1e-5)
    np.testing.assert_allclose(np.abs(equalised(tone, 2 * flat)).max(), 2 * np.abs(tone).max(), rtol=1e-3)


def test_repitching_moves_a_tone_and_keeps_the_middle_in_place():
    t = np.arange(8192) / SR
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    faster = repitched(tone, 2 ** (2 / 12))
    peak_hz = np.argmax(np.abs(np.fft.rfft(faster[2048:6144] * np.hanning(4096)))) * SR / 4096
    assert abs(peak_hz - 440 * 2 ** (2 / 12)) < 3
    np.testing.assert_allclose(repitched(tone, 1.0), tone, atol=1e-6)
    assert np.all(faster[:300] == 0) and np.all(faster[-300:] == 0)  # ran past the ends: silence
    click = np.zeros(8193, np.float32)
    click[4096] = 1.0
    assert np.argmax(repitched(click, 0.9)) == 4096


def test_training_writes_a_loadable_model_and_card(dataset, tmp_path):
    tracks = read_urmp(dataset)
    state = train(config(steps=5), tmp_path, sampler_for(dataset), validation_tracks=tracks[:1], progress=False)
    assert state["step"] == 5 and np.isfinite(state["best_sdr"])
    model = load_separator(tmp_path / "model.keras")
    assert model.settings["sample_rate"] == SR
    card = json.loads((tmp_path / "model.json").read_text())
    assert card["vocabulary"][:3] == ["vn", "va", "vc"] and card["config"]["nb_levels"] == 3
    assert card["wall_time_s"] >= 0 and card["machine"]["cpu_cores"] >= 1
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines if "loss" in l] == [1, 2, 3, 4, 5]
    assert [l["step"] for l in lines if "validation_sdr" in l] == [2, 4, 5]  # every 2 steps and at the last


def test_resume_after_interruption_continues_step_count_and_loss(dataset, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(config(), straight, sampler_for(dataset), progress=False)
    train(config(), resumed, sampler_for(dataset), max_steps=2, progress=False)  # "killed" after 2 steps
    assert json.loads((resumed / "state.json").read_text())["step"] == 2
    state = train(config(), resumed, sampler_for(dataset), progress=False)
    assert state["step"] == 4

    def losses(run):
        return [json.loads(l)["loss"] for l in (run / "metrics.jsonl").read_text().splitlines()]

    assert losses(resumed) == pytest.approx(losses(straight), rel=1e-4)
    a, b = load_separator(straight / "model.keras"), load_separator(resumed / "model.keras")
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, atol=1e-6)


@pytest.mark.parametrize("loss", ["sse", "l1", "balanced", "mse+stft", "mse+balanced", "mse+silence"])
def test_other_losses_and_decay_train(dataset, tmp_path, loss):
    state = train(config(loss=loss, decay={"rate": 0.5, "steps": 2}, steps=2), tmp_path, sampler_for(dataset),
                  progress=False)
    assert state["step"] == 2 and (tmp_path / "model.keras").exists()
    card = json.loads((tmp_path / "model.json").read_text())
    assert card["training"]["loss"] == loss
    losses = [json.loads(line)["loss"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines() if "loss" in line]
    assert all(np.isfinite(losses)) and losses[0] > 0


def test_early_stopping(dataset, tmp_path):
    tracks = read_urmp(dataset)
    state = train(config(learning_rate=0.0, steps=20, patience=2), tmp_path, sampler_for(dataset),
                  validation_tracks=tracks[:1], progress=False)
    assert state["stopped_early"] and state["step"] == 6  # best at 2, no gain at 4 and 6


def test_config_inheritance_and_overrides(tmp_path):
    (tmp_path / "base.yaml").write_text("model: {nb_levels: 8, nb_filters: 16}\ntraining: {steps: 10}\n")
    (tmp_path / "child.yaml").write_text("base: base.yaml\nmodel: {conditioning: none}\n")
    loaded = load_config(tmp_path / "child.yaml", ["training.steps=5", "training.decay={rate: 0.5, steps: 2}"])
    assert loaded["model"] == {"nb_levels": 8, "nb_filters": 16, "conditioning": "none"}
    assert loaded["training"] == {"steps": 5, "decay": {"rate": 0.5, "steps": 2}}


def test_cli_trains_and_reports_bad_configs(dataset, tmp_path, capsys):
    run = tmp_path / "run"
    sets = [f"data.train=[{dataset}]", "data.validation_fraction=0.25", "training.steps=2",
            "training.validate_every=2", "training.batch_size=2"] + [f"model.{k}={v}" for k, v in TINY_MODEL.items()]
    args = ["--config", "configs/default.yaml", "--run", str(run)] + [a for s in sets for a in ("--set", s)]
    assert train_main(args) == 0
    assert (run / "model.keras").exists() and "step 2" in capsys.readouterr().out
    assert train_main(["--config", str(tmp_path / "absent.yaml")]) == 2
    assert "no such config" in capsys.readouterr().err
    assert train_main(["--config", "configs/tagger.yaml", "--run", str(tmp_path / "tagger")]) == 2  # another model's
    assert "model.dense is not a Wave-U-Net setting" in capsys.readouterr().err
    assert not (tmp_path / "tagger").exists()
    bad_augmentation = args[:2] + ["--run", str(tmp_path / "gains")] + args[4:]
    for setting, message in [("data.gain_db=[3,-6]", "data.gain_db must be [low, high]"),
                             ("data.gain_db=[loud,3]", "data.gain_db must be [low, high]"),
                             ("data.repitch_semitones=-2", "data.repitch_semitones must be a number >= 0"),
                             ("data.accompaniment_probability=1.5",
                              "accompaniment_probability must be between 0 and 1"),
                             ("data.false_presence_probability=1", "false_presence_probability must be at least 0"),
                             ("data.false_presence_pool=nearby", "false_presence_pool must be one of any, family"),
                             (f"data.accompaniment=[{tmp_path}]", "data.accompaniment: no audio files under")]:
        assert train_main(bad_augmentation + ["--set", setting]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "gains").exists()


def outsider_clip(seconds=2.0, seed=3):
    """A noisy organ-like chord, mono float32 at SR: an instrument outside the vocabulary."""
    t = np.arange(int(seconds * SR)) / SR
    noise = np.random.default_rng(seed).normal(0, 0.01, len(t))
    return (0.1 * (np.sin(2 * np.pi * 97 * t) + np.sin(2 * np.pi * 131 * t)) + noise).astype(np.float32)


def test_accompaniment_clips_join_the_mix_without_a_target_at_the_asked_level(dataset):
    input_length, output_length = waveunet_lengths(512, 3, 5, 3)
    plain = StemSampler(read_urmp(dataset), input_length, output_length, 6, seed=1)
    never = StemSampler(read_urmp(dataset), input_length, output_length, 6, seed=1, accompaniment=[outsider_clip()])
    np.testing.assert_array_equal(never.batch(3)[0]["mix"], plain.batch(3)[0]["mix"])
    always = StemSampler(read_urmp(dataset), input_length, output_length, 6, seed=1, accompaniment=[outsider_clip()],
                         accompaniment_probability=1.0, accompaniment_db=(-6.0, -6.0))
    rng_plain, rng_always = np.random.default_rng(5), np.random.default_rng(5)
    mix, presence, targets = plain.example(rng_plain)
    mix_with, presence_with, targets_with = always.example(rng_always)
    np.testing.assert_array_equal(presence_with, presence)
    np.testing.assert_allclose(targets_with, targets, atol=1e-6)  # no peak above 1: nothing rescaled
    outsider = mix_with - mix
    ratio_db = 20 * np.log10(np.sqrt(np.mean(outsider ** 2)) / np.sqrt(np.mean(mix ** 2)))
    assert ratio_db == pytest.approx(-6.0, abs=0.01)
    clip = outsider_clip()  # the outsider is a crop of the clip
    assert max(np.corrcoef(outsider, clip[start:start + input_length])[0, 1]
               for start in range(len(clip) - input_length + 1)) > 0.9999


def test_cli_trains_with_accompaniment_clips_and_says_so_in_the_card(dataset, tmp_path):
    from audio.io import write_audio

    write_audio(tmp_path / "clips" / "0001_organ.wav", outsider_clip(), SR)
    write_audio(tmp_path / "clips" / "0002_short.wav", outsider_clip(0.01), SR)
    run = tmp_path / "run"
    sets = [f"data.train=[{dataset}]", "data.validation_fraction=0.25", "training.steps=2", "training.batch_size=2",
            f"data.accompaniment=[{tmp_path / 'clips'}]", "data.accompaniment_db=[-9,-3]"]
    sets += [f"model.{k}={v}" for k, v in TINY_MODEL.items()]
    args = ["--config", "configs/default.yaml", "--run", str(run)] + [a for s in sets for a in ("--set", s)]
    assert train_main(args) == 0
    card = json.loads((run / "model.json").read_text())
    assert card["data"]["accompaniment_clips"] == 1  # the clip shorter than a window is left out


def test_false_presence_names_absent_instruments_with_silent_targets_and_changes_nothing_else(dataset):
    input_length, output_length = waveunet_lengths(512, 3, 5, 3)
    plain = StemSampler(read_urmp(dataset), input_length, output_length, 64, seed=1)
    never = StemSampler(read_urmp(dataset), input_length, output_length, 64, seed=1, false_presence_probability=0.0)
    named = StemSampler(read_urmp(dataset), input_length, output_length, 64, seed=1, false_presence_probability=0.5)
    (plain_inputs, plain_targets), (named_inputs, named_targets) = plain.batch(3), named.batch(3)
    np.testing.assert_array_equal(never.batch(3)[0]["presence"], plain_inputs["presence"])
    np.testing.assert_array_equal(named_inputs["mix"], plain_inputs["mix"])  # the mixes and targets are as before
    np.testing.assert_array_equal(named_targets, plain_targets)
    playing = np.abs(plain_targets[..., 0]).max(axis=-1) > 0
    extra = (named_inputs["presence"] - plain_inputs["presence"]).sum(axis=1)
    assert np.all(named_inputs["presence"] >= plain_inputs["presence"])
    assert not np.any(playing & (plain_inputs["presence"] == 0))
    assert 0.3 < np.mean(extra >= 1) < 0.7 and np.mean(extra >= 2) < np.mean(extra >= 1)  # ~p and ~p**2
    falsely_named = (named_inputs["presence"] == 1) & (plain_inputs["presence"] == 0)
    assert np.all(named_targets[falsely_named] == 0)


def test_false_presence_from_the_family_names_a_relative_of_a_player(dataset):
    from fusion.instruments import INSTRUMENTS

    input_length, output_length = waveunet_lengths(512, 3, 5, 3)
    plain = StemSampler(read_urmp(dataset), input_length, output_length, 64, seed=1)
    related = StemSampler(read_urmp(dataset), input_length, output_length, 64, seed=1, false_presence_probability=0.5,
                          false_presence_pool="family")
    plain_presence, related_presence = plain.batch(3)[0]["presence"], related.batch(3)[0]["presence"]
    nb_added = 0
    for old, new in zip(plain_presence, related_presence):
        families = {INSTRUMENTS[i].family for i in np.flatnonzero(old)}
        relatives = {i for i in np.flatnonzero(old == 0) if INSTRUMENTS[i].family in families}
        added = set(np.flatnonzero(new - old))
        assert len(added & relatives) == min(len(added), len(relatives))  # relatives first, others once none is left
        nb_added += len(added)
    assert nb_added > 10


def test_the_stem_gain_range_scales_every_target(dataset):
    input_length, output_length = waveunet_lengths(512, 3, 5, 3)
    louder = StemSampler(read_urmp(dataset), input_length, output_length, 6, seed=1, gain_db=(-6.0, -6.0))
    quieter = StemSampler(read_urmp(dataset), input_length, output_length, 6, seed=1, gain_db=(-26.0, -26.0))
    (loud_inputs, loud_targets), (quiet_inputs, quiet_targets) = louder.batch(2), quieter.batch(2)
    np.testing.assert_allclose(quiet_targets, loud_targets * 0.1, atol=1e-6)
    np.testing.assert_allclose(quiet_inputs["mix"], loud_inputs["mix"] * 0.1, atol=1e-6)


def test_validation_split_never_shares_pieces(dataset):
    tracks = read_urmp(dataset)
    train_tracks, validation = validation_split(tracks, 0.5)
    assert validation and not {t.name for t in train_tracks} & {t.name for t in validation}


def test_cli_trains_from_tfrecords_and_validates_on_folders(dataset, tmp_path, capsys):
    from data.tfrecords import main as tfrecords_main

    input_length, output_length = waveunet_lengths(512, 3, 5, 3)
    assert tfrecords_main([str(dataset), "--out", str(tmp_path / "records"), "--sample-rate", str(SR),
                           "--segment-length", str(2 * input_length), "--context", str((input_length - output_length) // 2),
                           "--shards", "2"]) == 0
    run = tmp_path / "run"
    sets = [f"data.tfrecords={tmp_path / 'records'}/*.tfrecord.gz", f"data.validation=[{dataset}]",
            "training.steps=2", "training.validate_every=2", "training.batch_size=2"]
    sets += [f"model.{k}={v}" for k, v in TINY_MODEL.items()]
    args = ["--config", "configs/default.yaml", "--run", str(run)] + [a for s in sets for a in ("--set", s)]
    assert train_main(args) == 0
    assert "step 2, best validation SDR" in capsys.readouterr().out
    card = json.loads((run / "model.json").read_text())
    assert card["data"]["tfrecords"].endswith("*.tfrecord.gz") and len(card["data"]["validation_pieces"]) == 4
    assert train_main(args[:4] + ["--set", f"data.tfrecords={tmp_path}/none-*.gz"]) == 2
    assert "no TFRecord files match" in capsys.readouterr().err
    equalised_run = ["--config", "configs/default.yaml", "--run", str(tmp_path / "eq")] + args[4:]
    assert train_main(equalised_run + ["--set", "data.eq_db=6"]) == 2
    assert "data.eq_db is applied by the NumPy sampler only" in capsys.readouterr().err
    assert not (tmp_path / "eq").exists()


def test_init_from_starts_a_new_run_from_a_model_files_weights(dataset, tmp_path):
    from audio.train import build_model, restore

    source = build_model(config(seed=7))
    source.set_weights([w + 0.01 for w in source.get_weights()])
    source.save(tmp_path / "start.keras")
    model, state = restore(tmp_path / "run", config(init_from=str(tmp_path / "start.keras")))
    assert state["step"] == 0
    for loaded, wanted in zip(model.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(loaded, wanted)
    wider = {**config(init_from=str(tmp_path / "start.keras")), "model": {**TINY_MODEL, "nb_filters": 6}}
    widened, _ = restore(tmp_path / "run2", wider)  # a wider model starts from the function of the file's
    inputs = {"mix": np.random.default_rng(0).uniform(-0.3, 0.3, (1, source.input_length, 1)).astype(np.float32),
              "presence": np.ones((1, 13), np.float32)}
    np.testing.assert_allclose(widened.predict_on_batch(inputs), source.predict_on_batch(inputs), atol=1e-5)
    more_conditioned = {**config(init_from=str(tmp_path / "start.keras")),
                        "model": {**TINY_MODEL, "condition_at": "bottleneck+decoder"}}
    grown, _ = restore(tmp_path / "run5", more_conditioned)  # new FiLM layers start as the identity
    np.testing.assert_allclose(grown.predict_on_batch(inputs), source.predict_on_batch(inputs), atol=1e-5)
    deeper = {**config(init_from=str(tmp_path / "start.keras")), "model": {**TINY_MODEL, "nb_levels": 4}}
    with pytest.raises(Exception, match="another architecture.*differs in nb_levels"):
        restore(tmp_path / "run4", deeper)
    with pytest.raises(Exception, match="no such model file"):
        restore(tmp_path / "run3", config(init_from=str(tmp_path / "absent.keras")))


def test_fine_tuning_validates_its_starting_point_first(dataset, tmp_path):
    from audio.train import build_model

    source = build_model(config(seed=7))
    source.save(tmp_path / "start.keras")
    run = tmp_path / "run"
    # a rate of zero: no step can beat the starting weights, so they stay the best model
    train(config(init_from=str(tmp_path / "start.keras"), learning_rate=0.0, steps=2, validate_every=2), run,
          sampler_for(dataset), validation_tracks=read_urmp(dataset)[:1], progress=False)
    validations = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
                   if "validation_sdr" in line]
    assert [v["step"] for v in validations] == [0, 2]
    assert json.loads((run / "model.json").read_text())["steps"] == 0
    for saved, wanted in zip(load_separator(run / "model.keras").get_weights(), source.get_weights()):
        np.testing.assert_array_equal(saved, wanted)


def test_a_linear_decay_cools_the_rate_down_to_zero_and_an_exponential_one_halves_it():
    from audio.step_loop import learning_rate

    linear = learning_rate({"learning_rate": 1e-3, "decay": {"kind": "linear", "steps": 10}})
    assert [round(float(linear(step)), 7) for step in (0, 5, 10, 20)] == [1e-3, 5e-4, 0.0, 0.0]
    exponential = learning_rate({"learning_rate": 1e-3, "decay": {"rate": 0.5, "steps": 10}})
    assert [round(float(exponential(step)), 7) for step in (0, 10, 20)] == [1e-3, 5e-4, 2.5e-4]
    assert learning_rate({"learning_rate": 1e-3, "decay": None}) == 1e-3


def test_weight_averaging_saves_the_average_and_leaves_training_as_it_was(dataset, tmp_path):
    from audio.train import restore

    tracks = read_urmp(dataset)
    plain, averaged = tmp_path / "plain", tmp_path / "averaged"
    train(config(steps=4), plain, sampler_for(dataset), validation_tracks=tracks[:1], progress=False)
    train(config(steps=4, ema=0.5), averaged, sampler_for(dataset), validation_tracks=tracks[:1], progress=False)

    def losses(run):
        return [json.loads(l)["loss"] for l in (run / "metrics.jsonl").read_text().splitlines() if "loss" in l]

    assert losses(averaged) == pytest.approx(losses(plain), rel=1e-5)  # validating the average changed nothing
    raw_plain, _ = restore(plain, config(steps=4))
    raw_averaged, _ = restore(averaged, config(steps=4, ema=0.5))
    for a, b in zip(raw_plain.get_weights(), raw_averaged.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)

    last = tmp_path / "last"  # without validation the saved model is the average at the last step
    train(config(steps=4, ema=0.5), last, sampler_for(dataset), progress=False)
    checkpoint, _ = restore(last, config(steps=4, ema=0.5))
    averages = [v.numpy() for v in checkpoint.optimizer._model_variables_moving_average]
    saved = load_separator(last / "model.keras").get_weights()
    raw = checkpoint.get_weights()
    assert len(saved) == len(averages)
    for saved_weight, average, raw_weight in zip(saved, averages, raw):
        np.testing.assert_allclose(saved_weight, average, atol=1e-7)
    assert any(not np.allclose(s, r) for s, r in zip(saved, raw))


def test_export_writes_the_latest_checkpoints_average_without_training(dataset, tmp_path, capsys):
    run = tmp_path / "run"
    sets = [f"data.train=[{dataset}]", "training.ema=0.5", "training.steps=3", "training.checkpoint_every=3",
            "training.batch_size=2"] + [f"model.{k}={v}" for k, v in TINY_MODEL.items()]
    args = ["--config", "configs/default.yaml", "--run", str(run)] + [a for s in sets for a in ("--set", s)]
    exported = tmp_path / "exports" / "latest.keras"
    assert train_main(args + ["--export", str(exported)]) == 2  # nothing trained yet
    assert "has no checkpoint to export" in capsys.readouterr().err and not exported.exists()
    assert train_main(args + ["--export", str(tmp_path / "latest.h5")]) == 2
    assert "must be a .keras file" in capsys.readouterr().err

    assert train_main(args + ["--set", "data.validation_fraction=0"]) == 0  # no validation: model.keras is the last average
    assert train_main(args + ["--export", str(exported)]) == 0
    assert "at step 3" in capsys.readouterr().out
    for got, wanted in zip(load_separator(exported).get_weights(), load_separator(run / "model.keras").get_weights()):
        np.testing.assert_array_equal(got, wanted)
    card = json.loads(exported.with_suffix(".json").read_text())
    assert card["steps"] == 3 and card["data"]["folders"] == [str(dataset)]
    assert -60 < card["data"]["input_level_db"] < 0  # the level the Separator scales inputs to
    assert Separator(exported).training_level_db == card["data"]["input_level_db"]

    for name in ("model.keras", "model.json"):  # what a run killed before its end leaves: a checkpoint only
        (run / name).unlink()
    assert train_main(args + ["--export", str(exported)]) == 0
    assert json.loads(exported.with_suffix(".json").read_text())["data"] == card["data"]


def test_validation_folders_replace_the_hash_split_without_giving_its_pieces_to_training(dataset, tmp_path):
    other = tmp_path / "held_out_timbres"
    write_piece(other, 9, ("ob", "hn"), seed=9)
    run = tmp_path / "run"
    sets = [f"data.train=[{dataset}]", "data.validation_fraction=0.25", f"data.validation=[{other}]",
            "training.steps=2", "training.validate_every=2", "training.batch_size=2"]
    sets += [f"model.{k}={v}" for k, v in TINY_MODEL.items()]
    args = ["--config", "configs/default.yaml", "--run", str(run)] + [a for s in sets for a in ("--set", s)]
    assert train_main(args) == 0
    card = json.loads((run / "model.json").read_text())
    assert card["data"]["validation_pieces"] == ["09_Sines_ob_hn"]
    assert card["data"]["train_pieces"] == len(validation_split(read_urmp(dataset), 0.25)[0]) < 4


def test_worker_processes_build_the_samplers_own_batches(dataset):
    sampler = sampler_for(dataset, batch_size=4)
    workers = ParallelBatches(sampler, 2, ahead=3)
    try:
        for step in [5, 6, 7, 8, 2, 3]:  # in order, then a jump back, as a resumed run asks
            (inputs, targets), (expected_inputs, expected_targets) = workers.batch(step), sampler.batch(step)
            np.testing.assert_array_equal(inputs["mix"], expected_inputs["mix"])
            np.testing.assert_array_equal(inputs["presence"], expected_inputs["presence"])
            np.testing.assert_array_equal(targets, expected_targets)
    finally:
        workers.close()


def test_the_workers_close_with_large_batches_still_in_flight(dataset):
    sampler = StemSampler(read_urmp(dataset), 24563, 16389, 32, seed=1)  # the shipped windows: ~5 MB a batch
    workers = ParallelBatches(sampler, 7, ahead=14)
    for step in range(3):
        workers.batch(step)
    closing = threading.Thread(target=workers.close)
    closing.start()
    closing.join(timeout=60)
    assert not closing.is_alive()


def test_a_time_boxed_run_stops_checkpointed_and_keeps_snapshots(dataset, tmp_path, capsys, monkeypatch):
    ticks = itertools.count(0.0, 0.1)  # the run's clock gains 0.1 s per reading: ~0.3 s a step on any machine
    monkeypatch.setattr(step_loop, "time", SimpleNamespace(monotonic=lambda: next(ticks)))
    settings = config(steps=10 ** 6, snapshot_every=10, checkpoint_every=10 ** 5, log_every=5)
    state = train(settings, tmp_path, sampler_for(dataset), max_minutes=0.15, progress=True)
    assert 10 <= state["step"] < 40
    bar = capsys.readouterr().err  # counts minutes left, not a million steps
    assert "minutes_left=0" in bar and "/1000000" not in bar
    assert json.loads((tmp_path / "state.json").read_text())["step"] == state["step"]
    assert (tmp_path / "checkpoint.keras").exists() and (tmp_path / "model.keras").exists()
    snapshot = load_separator(tmp_path / "snapshots" / "step000010.keras")
    assert json.loads((tmp_path / "snapshots" / "step000010.json").read_text())["steps"] == 10
    assert snapshot.settings["nb_levels"] == 3
    resumed = train(settings, tmp_path, sampler_for(dataset), max_steps=1, progress=False)
    assert resumed["step"] == state["step"] + 1


def test_cli_trains_with_batch_workers_on_every_piece_and_checks_the_worker_count(dataset, tmp_path, capsys):
    sets = [f"data.train=[{dataset}]", "data.validation_fraction=0", "training.steps=3", "training.batch_size=2",
            "training.data_workers=2"] + [f"model.{k}={v}" for k, v in TINY_MODEL.items()]
    args = ["--config", "configs/default.yaml", "--run", str(tmp_path / "run")] + [a for s in sets for a in ("--set", s)]
    assert train_main(args) == 0
    card = json.loads((tmp_path / "run" / "model.json").read_text())
    assert card["data"]["train_pieces"] == 4 and card["data"]["validation_pieces"] == []
    lines = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert "loss" in lines and "validation_sdr" not in lines
    capsys.readouterr()
    args[3] = str(tmp_path / "bad")
    assert train_main(args + ["--set", "training.data_workers=two"]) == 2
    assert "training.data_workers must be a whole number" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    with pytest.raises(SystemExit):
        train_main(args + ["--max-minutes", "0"])
