import numpy as np

from audio.io import write_audio
from benchmarks.report import separable_pieces
from pipelines.evaluate import collect_stems


def test_only_pieces_of_more_than_one_instrument_are_scored(tmp_path):
    root = tmp_path / "pieces"
    for name in ("01_Credo_cl_cl", "02_Kyrie_vn_vc", "03_Gloria_tpt_tpt_tba"):
        for part, code in enumerate(name.split("_")[2:], start=1):
            write_audio(root / name / f"AuSep_{part}_{code}_{name[:2]}_x.wav", np.zeros(800), 8000)
    out = separable_pieces(root, tmp_path / "references")
    assert sorted(p.name for p in out.iterdir()) == ["02_Kyrie_vn_vc", "03_Gloria_tpt_tpt_tba"]
    stems = collect_stems(out)  # what the evaluation reads from it
    assert sorted(stems) == ["02", "03"] and sorted(stems["03"]) == ["tba", "tpt"] and len(stems["03"]["tpt"]) == 2
    (root / "02_Kyrie_vn_vc").rename(root / "02_Kyrie_hn_hn")  # made afresh each time
    assert sorted(p.name for p in separable_pieces(root, out).iterdir()) == ["03_Gloria_tpt_tpt_tba"]
