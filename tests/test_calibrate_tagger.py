"""pipelines.calibrate_tagger: a tagger's unsure ratio chosen on rendered pieces and kept in its card."""
import json

import numpy as np
import pytest

from audio.features import SAMPLE_RATE
from audio.io import write_audio
from fusion.instruments import index_of

# A tagger that hears the same in every clip, whatever it is played: vn 0.40, va 0.30, the rest ~0.
HEARD = {"vn": 0.40, "va": 0.30}


def constant_tagger(path):
    """Save a tiny tagger whose logits are its bias alone, so that it hears :data:`HEARD` in anything."""
    from audio.tagger import build_tagger

    model = build_tagger(filters=(4, 4, 4, 4), dense=4)
    logits = model.get_layer("logits")
    kernel, bias = logits.get_weights()
    bias[:] = -20.0
    for code, probability in HEARD.items():
        bias[index_of(code)] = np.log(probability / (1 - probability))
    logits.set_weights([np.zeros_like(kernel), bias])
    model.save(path)
    path.with_suffix(".json").write_text(json.dumps({"steps": 1}))
    return path


def write_mixes(root, names):
    """URMP-layout folders holding only a 4 s noise mix each, the players in the names."""
    rng = np.random.default_rng(0)
    for name in names:
        write_audio(root / name / f"AuMix_{name}.wav", 0.1 * rng.standard_normal(4 * SAMPLE_RATE), SAMPLE_RATE)
    return root


@pytest.mark.parametrize("pieces, chosen", [(["01_Duo_vn_va", "02_Duo_vn_va"], 0.6),  # both named at 0.6 (>= 0.24)
                                            (["01_Solo_vn", "02_Solo_vn"], 0.8)])   # only vn from 0.8 (>= 0.32)
def test_the_ratio_of_the_best_clip_f1_is_written_in_the_card_and_the_tagger_uses_it(tmp_path, capsys, pieces, chosen):
    from audio.tagger import InstrumentTagger, tag_media
    from pipelines.calibrate_tagger import main

    tagger_path = constant_tagger(tmp_path / "tagger.keras")
    data = write_mixes(tmp_path / "renders", pieces)
    assert main(["--tagger", str(tagger_path), "--data", str(data), "--write"]) == 0
    card = json.loads(tagger_path.with_suffix(".json").read_text())
    assert card["unsure_ratio"] == chosen and card["steps"] == 1  # the card keeps what it held
    assert card["unsure_ratio_choice"]["clips"] == 2 and card["unsure_ratio_choice"]["clip_f1"]["0"] == 0.0
    assert f"{chosen:g} (chosen)" in capsys.readouterr().out

    tagger = InstrumentTagger(tagger_path)
    assert tagger.unsure_ratio == chosen
    mix = next(data.glob("01_*/AuMix_*.wav"))
    assert set(tag_media(mix, tagger).present_codes()) == set(pieces[0].split("_")[2:])
    assert tag_media(mix, InstrumentTagger(tagger_path, unsure_ratio=0)).present_codes() == ()  # 0: the rule off


def test_ties_go_to_the_smaller_ratio():
    from pipelines.calibrate_tagger import best_ratio

    assert best_ratio({0.0: (0, 0, 0.5), 0.7: (0, 0, 0.8), 0.9: (0, 0, 0.8)}) == 0.7
    assert best_ratio({0.0: (0, 0, 0.5), 0.6: (0, 0, 0.4)}) == 0.0


def test_a_folder_without_renders_or_a_ratio_out_of_range_is_one_line(tmp_path, capsys):
    from pipelines.calibrate_tagger import main

    tagger_path = constant_tagger(tmp_path / "tagger.keras")
    (tmp_path / "empty").mkdir()
    assert main(["--tagger", str(tagger_path), "--data", str(tmp_path / "empty"), "--write"]) == 2
    assert main(["--tagger", str(tagger_path), "--data", str(tmp_path / "empty"), "--ratios", "1.5"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors[0].startswith("error: no rendered pieces") and errors[1].startswith("error: --ratios")
    assert "unsure_ratio" not in json.loads(tagger_path.with_suffix(".json").read_text())
