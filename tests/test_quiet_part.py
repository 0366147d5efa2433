import re

from benchmarks.quiet_part import main as quiet_part_main
from tests.model_helpers import passthrough, tiny


def test_a_model_that_passes_the_mix_through_scores_about_the_level_of_the_quiet_part(dataset, tmp_path, capsys):
    model_path = tmp_path / "passthrough.keras"
    passthrough(tiny()).save(model_path)
    args = ["--data", str(dataset), "--quiet", "vn", "--loud", "tpt", "--levels", "0", "-12",
            "--model", str(model_path), "--validation-fraction", "1"]
    assert quiet_part_main(args) == 0
    out = capsys.readouterr().out
    lines = re.findall(r"vn ([+-]\d+) dB from tpt: median SDR +(-?[\d.]+)", out)
    scores = {float(level): float(sdr) for level, sdr in lines}
    assert set(scores) == {0.0, -12.0}
    assert scores[-12.0] < -8.0 and scores[-12.0] < scores[0.0] - 8.0  # the estimate is mostly the trumpet
    assert quiet_part_main(args[:4] + ["--loud", "hn"] + args[6:]) == 2
    assert "0 hn stems; both are needed" in capsys.readouterr().err
