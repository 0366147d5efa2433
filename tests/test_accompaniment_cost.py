import json

import numpy as np

from audio.io import write_audio
from benchmarks.accompaniment import accompanied, main as accompaniment_main
from sine_pieces import write_piece
from test_separate import model_path  # noqa: F401  (the pass-through model fixture)


def test_the_clip_sits_at_the_asked_level_under_the_mixture():
    rng = np.random.default_rng(0)
    mixture, clip = rng.standard_normal(1000).astype(np.float32), 3 * rng.standard_normal(600).astype(np.float32)
    added = accompanied(mixture, clip, -6.0) - mixture
    assert not np.any(added[600:])  # padded with silence past the clip's end
    level = 10 * np.log10(np.mean(added ** 2) / np.mean(mixture ** 2))
    assert abs(level - -6.0) < 0.01  # over the whole piece, the padded silence included


def test_an_accompaniment_lowers_every_systems_scores(tmp_path, model_path, capsys):  # noqa: F811
    references, clips = tmp_path / "references", tmp_path / "clips"
    write_piece(references, 1, ["vn", "vc"], seconds=3.0)
    write_piece(references, 2, ["fl", "cl"], seconds=3.0, seed=1)
    noise = np.random.default_rng(2).standard_normal(8000 * 3) * 0.1
    write_audio(clips / "0001_organ.wav", noise, 8000)
    out = tmp_path / "out"
    assert accompaniment_main(["--references", str(references), "--accompaniment", str(clips), "--model",
                               str(model_path), "--level-db", "0", "--residual", "--out", str(out)]) == 0
    systems = json.loads((out / "scores" / "scores.json").read_text())["systems"]
    names = ("plain", "wiener", "wiener-residual")
    assert set(systems) == {f"{condition}-{name}" for condition in ("clean", "accompanied") for name in names}
    for system in ("plain", "wiener", "wiener-residual"):
        assert systems[f"accompanied-{system}"]["mean"]["SDR"] < systems[f"clean-{system}"]["mean"]["SDR"] - 1


def test_no_clips_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "clips").mkdir()
    assert accompaniment_main(["--references", str(tmp_path), "--accompaniment", str(tmp_path / "clips")]) == 2
    assert "no .wav clips" in capsys.readouterr().err
