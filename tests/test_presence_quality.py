"""benchmarks/presence_quality.py: the sets it judges a tagger on, and the pooled F1 it ships by."""
from argparse import Namespace

import benchmarks.presence_quality as presence_quality


def test_sound_only_reads_the_synthetic_mixes_and_pools_every_clip_and_the_real_ones(tmp_path, monkeypatch):
    for name in ("01_Bwv1_vn_vc", "02_Bwv2_fl_tpt_tba"):
        (tmp_path / "synth" / name).mkdir(parents=True)
        (tmp_path / "synth" / name / f"AuMix_{name}.wav").write_bytes(b"")
    monkeypatch.setattr(presence_quality, "SYNTHETIC_TEST", tmp_path / "synth")
    monkeypatch.setattr(presence_quality, "SECOND_LIBRARY_TEST", tmp_path / "absent")
    monkeypatch.setattr(presence_quality, "REAL_VIDEOS", tmp_path / "absent")
    monkeypatch.setattr(presence_quality, "URMP_REFERENCES", tmp_path / "absent")
    sets, notes = presence_quality.clip_sets(Namespace(sound_only=True, detector=tmp_path / "absent.pt"))
    assert [(name, detectors, senses) for name, _, detectors, senses in sets] == [("synthetic set", None, ("audio",))]
    assert sorted(map(sorted, sets[0][1].values())) == [["fl", "tba", "tpt"], ["vc", "vn"]]
    assert len(notes) == 3  # real videos, URMP excerpts and the second library absent

    def row(clip_set, truth, predicted):
        return {"set": clip_set, "sense": "audio", "truth": truth, "predicted": predicted}

    rows = [row("URMP excerpts", ["vn", "vc"], ["vn"]),            # 1 hit of 2
            row("real videos", ["fl"], ["fl", "vn"]),                # 1 hit, 1 false alarm
            row("synthetic set", ["cl", "bn"], [])]                  # 2 misses
    assert presence_quality.pooled_lines(rows).splitlines() == [
        "- pooled, audio, every clip (3): F1 0.50",                  # 2 hits, 3 predicted, 5 true
        "- pooled, audio, real clips (2): F1 0.67"]                  # 2 hits, 3 predicted, 3 true
