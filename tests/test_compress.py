import numpy as np

from data.compress import main as compress_main
from data.readers import read_urmp
from tests.sine_pieces import SR


def test_the_opus_copy_reads_as_the_original_pieces_with_their_stems_close(dataset, tmp_path, capsys):
    out = tmp_path / "packed"
    assert compress_main([str(dataset), "--out", str(out), "--pieces", "3"]) == 0
    assert "3 pieces" in capsys.readouterr().out
    originals, copies = read_urmp(dataset)[:3], read_urmp(out / dataset.name, sample_rate=SR)
    assert [t.name for t in copies] == [t.name for t in originals]
    assert all(t.mix is None and all(p.path.suffix == ".opus" for p in t.parts) for t in copies)
    for original, copy in zip(originals, copies):
        assert copy.codes == original.codes
        for (_, clean), (_, decoded) in zip(original.stems(), copy.stems()):
            assert decoded.shape == clean.shape  # same length at the original rate
            error_db = 10 * np.log10(np.sum((decoded - clean) ** 2) / np.sum(clean ** 2))
            assert error_db < -10  # lossy, yet the same signal in place
    sizes = [p.stat().st_size for p in out.rglob("*.opus")]
    originals_size = [p.stat().st_size for t in originals for p in (s.path for s in t.parts)]
    assert sum(sizes) < sum(originals_size) / 3


def test_bad_sources_are_one_line_errors(tmp_path, capsys):
    assert compress_main([str(tmp_path / "absent"), "--out", str(tmp_path / "out")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert compress_main([str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "no URMP piece folders" in capsys.readouterr().err
    assert compress_main([str(tmp_path), "--out", str(tmp_path / "out"), "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
