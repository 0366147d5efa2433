"""pipelines.batch on Ray Data: a local instance, and a head started on loopback with `ray start`."""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audio.io import write_audio
from pipelines.batch import CRASH_VARIABLE, find_items, main
from test_separate import model_path  # noqa: F401  (the pass-through model fixture)

pytest.importorskip("ray")
RAY = str(Path(sys.executable).parent / "ray")
ROOT = Path(__file__).resolve().parents[1]


def write_mix(root, name, seconds=1.0):
    t = np.arange(int(seconds * 22050)) / 22050
    write_audio(root / name / f"AuMix_{name}.wav", 0.2 * np.sin(2 * np.pi * 330 * t), 22050)


@pytest.fixture
def tree(tmp_path, sine_video):
    root = tmp_path / "urmp"
    for name in ("01_Good_vn_vc", "03_Other_fl", "05_Crash_vc"):
        write_mix(root, name)
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
    assert sorted(items) == ["01_Good_vn_vc", "02_Broken_tpt", "03_Other_fl", "04_Film_vn_va", "05_Crash_vc"]
    assert items["04_Film_vn_va"].is_video and not items["01_Good_vn_vc"].is_video
    assert items["01_Good_vn_vc"].codes == ("vn", "vc")


@pytest.mark.slow
def test_local_ray_isolates_corrupt_files_and_crashes_then_resumes(tree, tmp_path, model_path, monkeypatch):  # noqa: F811
    out = tmp_path / "out"
    args = [str(tree), "--out", str(out), "--model", str(model_path), "--labels", "--workers", "2"]
    monkeypatch.setenv(CRASH_VARIABLE, "05_Crash_vc")
    assert main(args) == 1
    summary = read_summary(out)
    assert summary["02_Broken_tpt"]["status"] == "failed" and "cannot decode" in summary["02_Broken_tpt"]["reason"]
    assert summary["05_Crash_vc"]["status"] == "failed" and "crashed" in summary["05_Crash_vc"]["reason"]
    for name in ("01_Good_vn_vc", "03_Other_fl", "04_Film_vn_va"):
        assert summary[name]["status"] == "done"
    assert summary["01_Good_vn_vc"]["instruments"] == "vn,vc"
    assert (out / "04_Film_vn_va" / "va.wav").exists() and not list(out.rglob("*.tmp*"))
    monkeypatch.delenv(CRASH_VARIABLE)
    assert main(args) == 1  # resume: finished items skipped, the crashed one now done, the corrupt one fails again
    summary = read_summary(out)
    assert [summary[n]["status"] for n in sorted(summary)] == ["skipped", "failed", "skipped", "skipped", "done"]


@pytest.fixture
def loopback_head(tmp_path, monkeypatch):
    """A Ray head started by `ray start` on 127.0.0.1 from a copy of the checkout elsewhere, stopped afterwards."""
    port = 6400 + os.getpid() % 500
    # Ray swaps 127.0.0.1 for the machine's LAN address unless told the cluster is one machine;
    # the head, the CLI and this driver all stay on loopback.
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    copy = tmp_path / "elsewhere"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".git", ".venv", ".cache", "runs", "*.pyc"))
    subprocess.run([RAY, "start", "--head", f"--port={port}", "--num-cpus=2", "--disable-usage-stats",
                    "--include-dashboard=false"], env=env, cwd=copy, check=True, capture_output=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True)


@pytest.mark.slow
def test_the_same_command_runs_against_a_cluster_address(tmp_path, model_path, loopback_head):  # noqa: F811
    root = tmp_path / "urmp"
    write_mix(root, "01_Good_vn_vc")
    out = tmp_path / "out"
    # a fresh process, as a user runs it: Ray reads its authentication settings once per process
    process = subprocess.run([sys.executable, "-m", "pipelines.batch", str(root), "--out", str(out), "--model",
                              str(model_path), "--labels", "--address", loopback_head],
                             cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr[-2000:]
    assert read_summary(out)["01_Good_vn_vc"]["status"] == "done" and (out / "01_Good_vn_vc" / "vc.wav").exists()


def test_bad_arguments(tmp_path, tree, capsys):
    (tmp_path / "nothing").mkdir()
    assert main([str(tmp_path / "nothing")]) == 2
    assert "no URMP piece folders" in capsys.readouterr().err
    assert main([str(tree), "--workers", "0"]) == 2
    assert main([str(tree), "--model", str(tmp_path / "absent.keras")]) == 2


@pytest.mark.slow
def test_an_audio_only_tree_needs_no_detector_and_a_worker_that_cannot_start_fails_its_items(
        tmp_path, model_path):  # noqa: F811
    root = tmp_path / "urmp"
    for name in ("01_Good_vn_vc", "03_Other_fl"):
        write_mix(root, name)
    out = tmp_path / "out"
    # exactly as the README gives it: no --labels, and the default detector is not on this machine
    assert main([str(root), "--out", str(out), "--model", str(model_path), "--workers", "1", "--no-level-match"]) == 0
    assert {row["status"] for row in read_summary(out).values()} == {"done"}
    manifest = json.loads((out / "03_Other_fl" / "manifest.json").read_text())
    assert manifest["input_level"] == {"level_dbfs": None, "gain_db": 0.0}  # --no-level-match reaches the workers
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a model")
    assert main([str(root), "--out", str(tmp_path / "out2"), "--model", str(broken), "--workers", "1"]) == 1
    summary = read_summary(tmp_path / "out2")
    assert len(summary) == 2 and all("could not start" in row["reason"] for row in summary.values())


@pytest.mark.slow
def test_videos_go_through_the_detection_stage_and_failures_stay_with_their_items(tree, tmp_path, model_path):  # noqa: F811
    from vision.ultralytics_offline import load_yolo

    weights = tmp_path / "tiny.pt"
    load_yolo("yolov8n.yaml").save(weights)  # untrained: it sees nothing in the test pattern
    out = tmp_path / "out"
    assert main([str(tree), "--out", str(out), "--model", str(model_path), "--detector", str(weights),
                 "--workers", "1"]) == 1
    summary = read_summary(out)
    assert summary["02_Broken_tpt"]["status"] == "failed" and "cannot decode" in summary["02_Broken_tpt"]["reason"]
    assert {summary[n]["status"] for n in ("01_Good_vn_vc", "03_Other_fl", "04_Film_vn_va", "05_Crash_vc")} == {"done"}
    film = json.loads((out / "04_Film_vn_va" / "manifest.json").read_text())
    assert film["presence"]["source"] == "video+audio" and film["presence"]["detector"]["weights"] == str(weights)
    assert set(film["presence"]["senses"]) == {"video", "audio"}
    named = json.loads((out / "01_Good_vn_vc" / "manifest.json").read_text())
    assert named["instruments"] == ["vn", "vc"]
    # NMF shares the mixture among the instruments it is told of: blended by default only where the folder named them
    assert named["postfilter"] == "wiener (norbert soft masks), NMF blend 0.25"
    assert film["postfilter"] == "wiener (norbert soft masks)"
