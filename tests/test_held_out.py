"""benchmarks/held_out.py: one row per model over the held-out sets that are present."""
import re

import pytest

import benchmarks.held_out as held_out
from pipelines.baselines import estimate
from pipelines.evaluate import evaluate
from tests.model_helpers import passthrough, tiny


def test_a_pass_through_model_scores_what_the_mixture_scores_and_absent_sets_are_left_out(
        dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(held_out, "WORK", tmp_path / "bench")
    monkeypatch.setattr(held_out, "SETS", {"real": tmp_path / "absent", "synthetic": dataset})
    model_path = tmp_path / "passthrough.keras"
    passthrough(tiny()).save(model_path)
    estimate("mixture", dataset, tmp_path / "mixture")
    mixture_sdr = evaluate(dataset, [("mixture", tmp_path / "mixture")], tmp_path / "scores")["systems"]["mixture"]

    assert held_out.main(["--model", str(model_path), "--no-wiener", "--sets", "real", "synthetic"]) == 0
    out = capsys.readouterr().out
    assert "set real left out" in out
    row = re.search(rf"\| {re.escape(str(model_path))} \| (-?[\d.]+) \|", out)
    assert row and float(row.group(1)) == pytest.approx(mixture_sdr["mean"]["SDR"], abs=0.3)
    assert (tmp_path / "bench" / "held-out" / f"{tmp_path.name}-passthrough-raw" / "synthetic").is_dir()


def test_a_diagnostic_set_is_scored_only_when_named(dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(held_out, "WORK", tmp_path / "bench")
    monkeypatch.setattr(held_out, "SETS", {"synthetic": dataset})
    monkeypatch.setattr(held_out, "DIAGNOSTIC_SETS", {"synthetic-dry": dataset,
                                                      "synthetic-known-timbres": tmp_path / "absent"})
    model_path = tmp_path / "passthrough.keras"
    passthrough(tiny()).save(model_path)

    assert held_out.main(["--model", str(model_path), "--no-wiener"]) == 0
    assert "synthetic-dry" not in capsys.readouterr().out

    assert held_out.main(["--model", str(model_path), "--no-wiener", "--sets", "synthetic-dry",
                          "synthetic-known-timbres"]) == 0
    out = capsys.readouterr().out
    assert "| model | synthetic-dry |" in out
    assert "set synthetic-known-timbres left out" in out
    assert (tmp_path / "bench" / "held-out" / f"{tmp_path.name}-passthrough-raw" / "synthetic-dry").is_dir()


def test_a_missing_model_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        held_out.main(["--model", str(tmp_path / "none.keras")])
    assert stop.value.code == 2
    assert "no model at" in capsys.readouterr().err


def test_a_blend_without_the_filter_is_a_one_line_error(tmp_path, capsys):
    model_path = tmp_path / "tiny.keras"
    tiny().save(model_path)
    with pytest.raises(SystemExit) as stop:
        held_out.main(["--model", str(model_path), "--no-wiener", "--nmf-blend", "0.25"])
    assert stop.value.code == 2
    assert "it needs --wiener" in capsys.readouterr().err


def test_a_tagger_without_heard_presence_is_a_one_line_error(tmp_path, capsys):
    model_path = tmp_path / "tiny.keras"
    tiny().save(model_path)
    with pytest.raises(SystemExit) as stop:
        held_out.main(["--model", str(model_path), "--tagger", str(model_path)])
    assert stop.value.code == 2
    assert "--tagger goes with --heard" in capsys.readouterr().err


@pytest.mark.parametrize("own_tagger", [False, True])
def test_heard_presence_separates_what_the_tagger_hears_not_the_labels(dataset, tmp_path, monkeypatch, capsys,
                                                                         own_tagger):
    import pipelines.separate
    from audio.tagger import DEFAULT_TAGGER, build_tagger
    from fusion.instruments import parse_urmp_name
    from fusion.presence import Presence

    tagger_path = tmp_path / "taggers" / "candidate.keras"
    tagger_path.parent.mkdir()
    build_tagger(filters=(4, 4, 4, 4), dense=4).save(tagger_path)

    def first_player_heard(media, presence_from, tagger):  # a tagger that hears only each piece's first player
        assert presence_from == "audio" and tagger.path == (tagger_path if own_tagger else DEFAULT_TAGGER)
        return Presence.constant(parse_urmp_name(media.parent.name).codes[:1])

    monkeypatch.setattr(pipelines.separate, "resolve_presence", first_player_heard)
    monkeypatch.setattr(held_out, "WORK", tmp_path / "bench")
    monkeypatch.setattr(held_out, "SETS", {"synthetic": dataset})
    model_path = tmp_path / "passthrough.keras"
    passthrough(tiny()).save(model_path)

    tagger_arguments = ["--tagger", str(tagger_path)] if own_tagger else []
    assert held_out.main(["--model", str(model_path), "--heard", *tagger_arguments, "--sets", "synthetic"]) == 0
    assert re.search(rf"\| {re.escape(str(model_path))} \| -?[\d.]+ \|", capsys.readouterr().out)
    tag = f"{tmp_path.name}-passthrough-heard" + ("-taggers-candidate" if own_tagger else "")
    out = tmp_path / "bench" / "held-out" / tag / "synthetic"
    for piece in sorted(p for p in dataset.iterdir() if p.is_dir()):
        stems = {path.stem for path in (out / piece.name).glob("*.wav")}
        assert stems == {parse_urmp_name(piece.name).codes[0]}
