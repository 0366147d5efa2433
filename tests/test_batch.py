import csv
import shutil

import numpy as np
import pytest

from audio.io import write_audio
from pipelines.batch import find_items, main
from test_separate import model_path  # noqa: F401  (the pass-through model fixture)


@pytest.fixture
def tree(tmp_path, sine_video):
    root = tmp_path / "urmp"
    t = np.arange(22050) / 22050
    for name in ("01_Good_vn_vc", "03_Other_fl"):
        write_audio(root / name / f"AuMix_{name}.wav", 0.2 * np.sin(2 * np.pi * 330 * t), 22050)
    (root / "02_Broken_tpt").mkdir(parents=True)
    (root / "02_Broken_tpt" / "AuMix_02_Broken_tpt.wav").write_text("not audio")
    (root / "04_Film_vn_va").mkdir()
    shutil.copy(sine_video, root / "04_Film_vn_va" / "Vid_04_Film_vn_va.mp4")
    (root / "notes").mkdir()
    return root


def read_summary(out):
    with open(out / "summary.csv") as handle:
        return {row["item"]: row for row in csv.DictReader(handle)}


def test_items_prefer_videos(tree):
    items = {item.name: item for item in find_items(tree)}
    assert sorted(items) == ["01_Good_vn_vc", "02_Broken_tpt", "03_Other_fl", "04_Film_vn_va"]
    assert items["04_Film_vn_va"].is_video and not items["01_Good_vn_vc"].is_video
    assert items["01_Good_vn_vc"].codes == ("vn", "vc")


def test_failure_is_isolated_and_resume_skips_done(tree, tmp_path, model_path):  # noqa: F811
    out = tmp_path / "out"
    args = [str(tree), "--out", str(out), "--model", str(model_path), "--labels"]
    assert main(args) == 1
    summary = read_summary(out)
    assert summary["02_Broken_tpt"]["status"] == "failed" and "cannot decode" in summary["02_Broken_tpt"]["reason"]
    assert summary["01_Good_vn_vc"]["status"] == "done" and summary["01_Good_vn_vc"]["instruments"] == "vn,vc"
    assert summary["04_Film_vn_va"]["status"] == "done"
    assert (out / "01_Good_vn_vc" / "vc.wav").exists() and (out / "04_Film_vn_va" / "va.wav").exists()
    assert main(args) == 1
    summary = read_summary(out)
    assert [summary[name]["status"] for name in sorted(summary)] == ["skipped", "failed", "skipped", "skipped"]


def test_empty_tree_is_bad_input(tmp_path, capsys):
    (tmp_path / "nothing").mkdir()
    assert main([str(tmp_path / "nothing")]) == 2
    assert "no URMP piece folders" in capsys.readouterr().err
