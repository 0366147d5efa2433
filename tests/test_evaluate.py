import json

import numpy as np
import pytest

from audio.io import write_audio
from common.errors import AvsepError
from conftest import shared_file
from pipelines.evaluate import collect_stems, main, piece_key, window_median

SR = 8000


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """Two URMP-layout pieces of noise-like stems (8 kHz, 4 s)."""
    root = tmp_path_factory.mktemp("refs")
    rng = np.random.default_rng(0)
    for number, codes in ((1, ("vn", "vc")), (2, ("fl", "vn", "vn"))):
        folder = root / f"{number:02d}_Test_{'_'.join(codes)}"
        for part, code in enumerate(codes, start=1):
            write_audio(folder / f"AuSep_{part}_{code}_{number:02d}_Test.wav", rng.normal(0, 0.1, 4 * SR), SR)
    return root


def estimates_from(references, root, noise, rate=SR):
    """``root/<piece>/<code>.wav``: references plus noise, at ``rate``."""
    from audio.io import read_audio

    rng = np.random.default_rng(1)
    for piece, stems in collect_stems(references).items():
        for code, paths in stems.items():
            audio = sum(read_audio(p, rate)[0] for p in paths)
            write_audio(root / f"AuMix_{piece}_Test" / f"{code}.wav", audio + rng.normal(0, noise, audio.shape), rate)
    return root


def test_layouts_and_piece_keys(references):
    stems = collect_stems(references)
    assert sorted(stems) == ["01", "02"] and len(stems["02"]["vn"]) == 2  # two violin parts
    assert piece_key("AuMix_01_Jupiter_vn_vc") == piece_key("Vid_1_x") == piece_key("01_mix") == "01"


def test_better_estimates_score_higher(references, tmp_path, capsys):
    good = estimates_from(references, tmp_path / "good", noise=0.01)
    bad = estimates_from(references, tmp_path / "bad", noise=0.1, rate=16000)  # other rate: resampled
    assert main(["--references", str(references), "--estimates", f"good={good}", f"bad={bad}",
                 "--out", str(tmp_path / "report")]) == 0
    report = json.loads((tmp_path / "report" / "scores.json").read_text())
    good_sdr, bad_sdr = report["systems"]["good"]["mean"]["SDR"], report["systems"]["bad"]["mean"]["SDR"]
    assert good_sdr == pytest.approx(20 + 10 * np.log10(2), abs=2.5)  # 0.1 vs 0.01 noise (vn parts summed)
    assert bad_sdr < good_sdr - 10
    assert len(report["systems"]["good"]["stems"]) == 4
    assert (tmp_path / "report" / "violins.png").stat().st_size > 1000
    assert "| good |" in (tmp_path / "report" / "scores.md").read_text()


def test_missing_estimate_scores_as_silence(references, tmp_path):
    partial = estimates_from(references, tmp_path / "partial", noise=0.01)
    (partial / "AuMix_02_Test" / "fl.wav").unlink()
    assert main(["--references", str(references), "--estimates", str(partial), "--out", str(tmp_path / "r")]) == 0
    stems = json.loads((tmp_path / "r" / "scores.json").read_text())["systems"]["partial"]["stems"]
    flute = next(s for s in stems if s["code"] == "fl")
    assert flute["estimate"] == "None" and flute["SDR"] < 0


def test_windows_of_numerical_residue_in_a_reference_count_as_silent(tmp_path):
    rng = np.random.default_rng(2)
    playing = rng.normal(0, 0.1, 4 * SR)
    resting = playing.copy()
    resting[2 * SR:] = rng.normal(0, 1e-8, 2 * SR)  # -160 dB: what a renderer leaves in a rest
    silent = playing.copy()
    silent[2 * SR:] = 0.0
    partner = rng.normal(0, 0.1, 4 * SR)
    scores = {}
    for name, cello in (("resting", resting), ("silent", silent)):
        refs = tmp_path / name / "01_Test_vn_vc"
        write_audio(refs / "AuSep_1_vn_01_Test.wav", partner, SR)
        write_audio(refs / "AuSep_2_vc_01_Test.wav", cello, SR)
        estimate = tmp_path / f"{name}-estimate" / "01"
        write_audio(estimate / "vn.wav", partner + 0.01 * cello, SR)
        write_audio(estimate / "vc.wav", cello + 0.01 * partner, SR)
        assert main(["--references", str(refs.parent), "--estimates", f"x={estimate.parent}",
                     "--out", str(tmp_path / f"{name}-report")]) == 0
        stems = json.loads((tmp_path / f"{name}-report" / "scores.json").read_text())["systems"]["x"]["stems"]
        scores[name] = next(s for s in stems if s["code"] == "vc")
    assert scores["resting"]["windows"] == scores["silent"]["windows"] == 2
    assert scores["resting"]["SDR"] == pytest.approx(scores["silent"]["SDR"], abs=0.1)
    assert scores["resting"]["SDR"] > 20


def test_rests_below_leaves_out_a_stems_noise_floor_in_its_rests(tmp_path, capsys):
    rng = np.random.default_rng(3)
    partner = rng.normal(0, 0.1, 4 * SR)
    cello = rng.normal(0, 0.1, 4 * SR)
    cello[2 * SR:] = rng.normal(0, 0.1 * 10 ** (-50 / 20), 2 * SR)  # resting: its noise floor, 50 dB under
    refs = tmp_path / "refs" / "01_Test_vn_vc"
    write_audio(refs / "AuSep_1_vn_01_Test.wav", partner, SR)
    write_audio(refs / "AuSep_2_vc_01_Test.wav", cello, SR)
    estimate = tmp_path / "estimate" / "01"
    write_audio(estimate / "vn.wav", partner + 0.01 * cello, SR)
    write_audio(estimate / "vc.wav", cello + 0.01 * partner, SR)  # leakage 40 dB under each stem, throughout
    scores = {}
    for name, extra in (("default", []), ("rests", ["--rests-below", "40"])):
        assert main(["--references", str(refs.parent), "--estimates", f"x={estimate.parent}",
                     "--out", str(tmp_path / name), *extra]) == 0
        report = json.loads((tmp_path / name / "scores.json").read_text())
        scores[name] = next(s for s in report["systems"]["x"]["stems"] if s["code"] == "vc")
    assert "40 dB under" in report["protocol"]
    assert scores["default"]["windows"] == 4 and scores["rests"]["windows"] == 2
    # by default the two resting windows score the leakage against the noise floor (about -10 dB) and
    # pull the median of four down to half way; left out, the median is the playing windows' (about 40 dB)
    assert scores["rests"]["SDR"] > 30 and scores["default"]["SDR"] < scores["rests"]["SDR"] - 20
    assert main(["--references", str(refs.parent), "--estimates", str(estimate.parent), "--rests-below", "0"]) == 2
    assert "--rests-below" in capsys.readouterr().err


def test_unmatched_estimates_fail_in_one_line(references, tmp_path, capsys):
    (tmp_path / "other" / "99_x").mkdir(parents=True)
    write_audio(tmp_path / "other" / "99_x" / "vn.wav", np.zeros(SR), SR)
    assert main(["--references", str(references), "--estimates", str(tmp_path / "other")]) == 2
    assert "matches" in capsys.readouterr().err
    with pytest.raises(AvsepError):
        collect_stems(tmp_path / "absent")


def test_references_beside_estimates_in_one_tree_fail_in_one_line_instead_of_being_summed(tmp_path, capsys):
    for folder, suffix in (("reference", "orig"), ("estimates", "sep")):
        write_audio(tmp_path / "excerpts" / folder / f"12_vn_{suffix}.wav", np.zeros(SR), SR)
    assert len(collect_stems(tmp_path / "excerpts" / "reference")["12"]["vn"]) == 1
    assert main(["--references", str(tmp_path / "excerpts"), "--estimates", str(tmp_path / "excerpts" / "estimates")]) == 2
    assert "piece 12 has stems in 2 folders" in capsys.readouterr().err


def test_peer_outputs_on_real_excerpts_score_as_published(tmp_path):
    reference = shared_file("data/urmp_excerpts/reference")
    peer = shared_file("data/urmp_excerpts/anchor_conditioned_unet")
    assert main(["--references", str(reference), "--estimates", f"peer={peer}", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "scores.json").read_text())
    assert report["systems"]["peer"]["mean"]["SDR"] == pytest.approx(-0.90, abs=0.01)


def test_infinite_window_ratios_give_a_finite_median():
    inf = np.inf
    assert window_median(np.array([3.0, 5.0, inf])) == 5.0  # a minority of infinite windows: they count
    assert window_median(np.array([3.0, inf, inf])) == 3.0  # an infinite median: the finite windows'
    assert window_median(np.array([inf, inf])) == 200.0
    assert window_median(np.array([inf, -inf])) == 0.0
    assert window_median(np.array([-inf, -inf, 1.0])) == 1.0


def test_a_stem_switched_off_for_a_while_leaves_no_window_unscored(tmp_path):
    rng = np.random.default_rng(3)
    violin, cello = rng.normal(0, 0.1, 4 * SR), rng.normal(0, 0.1, 4 * SR)
    refs = tmp_path / "refs" / "01_Test_vn_vc"
    write_audio(refs / "AuSep_1_vn_01_Test.wav", violin, SR)
    write_audio(refs / "AuSep_2_vc_01_Test.wav", cello, SR)
    gated = violin + 0.01 * cello
    gated[SR:3 * SR] = 0.0  # presence said the violin rests in seconds 1-3
    write_audio(tmp_path / "est" / "01" / "vn.wav", gated, SR)
    write_audio(tmp_path / "est" / "01" / "vc.wav", cello + 0.01 * violin, SR)
    assert main(["--references", str(refs.parent), "--estimates", f"x={tmp_path / 'est'}",
                 "--out", str(tmp_path / "report")]) == 0
    stems = {s["code"]: s for s in json.loads((tmp_path / "report" / "scores.json").read_text())["systems"]["x"]["stems"]}
    assert stems["vn"]["windows"] == stems["vc"]["windows"] == 4
    assert stems["vc"]["SDR"] > 20  # the cello's estimate is good in every window
