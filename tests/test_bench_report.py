from benchmarks.report import separable_pieces


def test_only_pieces_of_more_than_one_instrument_are_scored(tmp_path):
    root = tmp_path / "pieces"
    for name in ("01_Credo_cl_cl", "02_Kyrie_vn_vc", "03_Gloria_tpt_tpt_tba"):
        (root / name).mkdir(parents=True)
        (root / name / f"AuMix_{name}.wav").write_bytes(b"")
    out = separable_pieces(root, tmp_path / "references")
    assert sorted(p.name for p in out.iterdir()) == ["02_Kyrie_vn_vc", "03_Gloria_tpt_tpt_tba"]
    assert (out / "02_Kyrie_vn_vc" / "AuMix_02_Kyrie_vn_vc.wav").exists()
    (root / "02_Kyrie_vn_vc").rename(root / "02_Kyrie_hn_hn")  # made afresh each time
    assert sorted(p.name for p in separable_pieces(root, out).iterdir()) == ["03_Gloria_tpt_tpt_tba"]
