"""Dataset readers behind one Track interface: URMP, MUSDB18, MedleyDB, Bach10, and their splits."""
import json

import numpy as np
import pytest
import yaml

from audio.io import write_audio
from common.errors import AvsepError
from conftest import ffmpeg, shared_file
from data.readers import detect_format, read_bach10, read_dataset, read_medleydb, read_musdb, read_urmp
from data.sampler import StemSampler
from data.tracks import held_out_fraction, validation_split
from fusion.instruments import presence_vector
from tests.sine_pieces import write_piece

SR = 8000
MUSDB_STEMS = ("drums", "bass", "other", "vocals")  # stream 1..4 of a .stem.mp4


def tone(frequency, seconds=1.0, amplitude=0.2):
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def dominant_hz(audio, sample_rate):
    """The strongest frequency of a mono or multichannel signal."""
    spectrum = np.abs(np.fft.rfft(audio.mean(axis=0)))
    return np.argmax(spectrum) * sample_rate / audio.shape[-1]


def write_stem_mp4(path, frequencies, seconds=1.0):
    """A MUSDB-like ``.stem.mp4``: stream 0 the mix, streams 1-4 one sine each, stereo AAC."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mix = "+".join(f"0.2*sin(2*PI*{f}*t)" for f in frequencies)
    inputs = [f"aevalsrc={mix}|{mix}:s=44100:d={seconds}"]
    inputs += [f"aevalsrc=0.2*sin(2*PI*{f}*t)|0.2*sin(2*PI*{f}*t):s=44100:d={seconds}" for f in frequencies]
    args = [arg for source in inputs for arg in ("-f", "lavfi", "-i", source)]
    maps = [arg for index in range(len(inputs)) for arg in ("-map", str(index))]
    ffmpeg(*args, *maps, "-c:a", "aac", "-b:a", "128k", str(path))


@pytest.fixture(scope="module")
def musdb_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("musdb")
    write_stem_mp4(root / "train" / "Artist - Song.stem.mp4", (200, 400, 800, 1600))
    write_stem_mp4(root / "test" / "Other - Tune.stem.mp4", (300, 600, 1200, 2400))
    return root


def test_musdb_stem_files_read_stream_by_stream(musdb_root):
    assert detect_format(musdb_root) == "musdb"
    tracks = read_musdb(musdb_root, sample_rate=SR)
    assert [t.name for t in tracks] == ["Artist - Song", "Other - Tune"]
    track = tracks[0]
    assert track.labels == MUSDB_STEMS and track.codes == () and not track.presence.any()
    stems = dict(track.stems())
    for label, frequency in zip(MUSDB_STEMS, (200, 400, 800, 1600)):
        assert stems[label].shape[0] == 2  # stereo kept
        assert dominant_hz(stems[label], SR) == pytest.approx(frequency, abs=2)
    mixture = track.mixture()
    assert mixture.shape == stems["drums"].shape
    error = np.sqrt(np.mean((mixture - sum(stems.values())) ** 2)) / np.sqrt(np.mean(mixture ** 2))
    assert error < 0.05  # AAC codes the mix and the stems separately
    assert not track.targets().any()  # nothing of our vocabulary


def test_musdb_subsets_and_validation_split(musdb_root):
    assert [t.name for t in read_musdb(musdb_root, subsets=("test",))] == ["Other - Tune"]
    assert [t.name for t in read_musdb(musdb_root, subsets=("train",), split="train")] == ["Artist - Song"]
    with pytest.raises(AvsepError, match="no MUSDB18 tracks"):  # not one of musdb's validation names
        read_musdb(musdb_root, subsets=("train",), split="valid")
    with pytest.raises(AvsepError, match="needs one"):
        read_musdb(musdb_root / "train", split="valid")


def test_musdb_wav_layout(tmp_path):
    folder = tmp_path / "train" / "Band - Piece"
    for label, frequency in zip(MUSDB_STEMS, (250, 500, 1000, 2000)):
        write_audio(folder / f"{label}.wav", tone(frequency), SR)
    write_audio(folder / "mixture.wav", sum(tone(f) for f in (250, 500, 1000, 2000)), SR)
    (track,) = read_musdb(tmp_path, is_wav=True)
    assert track.labels == MUSDB_STEMS
    np.testing.assert_allclose(track.mixture(), sum(audio for _, audio in track.stems()), atol=1e-6)
    assert dominant_hz(dict(track.stems())["vocals"], SR) == pytest.approx(2000, abs=2)


def test_shared_musdb_clip():
    folder = shared_file("data/musdb18_7").parent / "musdb18_7"
    (track,) = read_dataset(folder)
    assert track.name == "Music Delta - 80s Rock" and track.labels == MUSDB_STEMS
    mixture, stems = track.mixture(), track.stems()
    assert mixture.shape[0] == 2 and mixture.shape[1] > 5 * 44100
    residual = mixture - sum(audio for _, audio in stems)
    assert np.sqrt(np.mean(residual ** 2)) < 0.1 * np.sqrt(np.mean(mixture ** 2))


def write_medleydb_track(root, name, artist, stems, has_bleed="no", metadata_folder=None):
    """A MedleyDB track folder: ``name/name_STEMS/name_STEM_NN.wav`` and its metadata YAML."""
    stem_dir = root / "Audio" / name / f"{name}_STEMS"
    entries = {}
    for number, (instrument, frequency) in enumerate(stems, start=1):
        filename = f"{name}_STEM_{number:02d}.wav"
        write_audio(stem_dir / filename, tone(frequency), SR)
        entries[f"S{number:02d}"] = {"component": "", "filename": filename, "instrument": instrument}
    write_audio(stem_dir.parent / f"{name}_MIX.wav", sum(tone(f) for _, f in stems), SR)
    metadata = {"artist": artist, "has_bleed": has_bleed, "mix_filename": f"{name}_MIX.wav",
                "stem_dir": f"{name}_STEMS", "stems": entries, "title": name}
    folder = metadata_folder or stem_dir.parent
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}_METADATA.yaml").write_text(yaml.safe_dump(metadata))


@pytest.fixture(scope="module")
def medleydb_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("medleydb")
    write_medleydb_track(root, "Trio_Allegro", "Trio", [("piano", 220), ("violin", 660), ("cello", 330)])
    write_medleydb_track(root, "Trio_Adagio", "Trio", [("violin section", 500), ("tenor saxophone", 350)],
                         metadata_folder=root / "Metadata")  # the metadata apart, as in the medleydb repo
    write_medleydb_track(root, "Band_Song", "Band", [(["drum set", "cymbal"], 100), ("flute", 880)])
    write_medleydb_track(root, "Live_Take", "Live", [("violin", 440)], has_bleed="yes")
    return root


def test_medleydb_instruments_become_codes_and_others_stay_accompaniment(medleydb_root):
    assert detect_format(medleydb_root) == "medleydb"
    tracks = {t.name: t for t in read_medleydb(medleydb_root, sample_rate=SR)}
    assert sorted(tracks) == ["Band_Song", "Trio_Adagio", "Trio_Allegro"]  # the bleed track is skipped
    allegro = tracks["Trio_Allegro"]
    assert allegro.labels == ("piano", "vn", "vc") and allegro.codes == ("vn", "vc")
    np.testing.assert_array_equal(allegro.presence, presence_vector(("vn", "vc")))
    assert tracks["Trio_Adagio"].codes == ("vn", "sax")
    assert tracks["Band_Song"].labels == ("drum set+cymbal", "fl")
    targets, mixture = allegro.targets(), allegro.mixture()
    accompaniment = mixture - targets.sum(axis=0)
    assert dominant_hz(accompaniment, SR) == pytest.approx(220, abs=2)  # the piano: no target, in the mix
    assert {t.group for t in tracks.values()} == {"artist:Trio", "artist:Band"}
    assert "Live_Take" in [t.name for t in read_medleydb(medleydb_root, include_bleed=True)]


def test_sampler_mixes_accompaniment_without_target_or_label(medleydb_root):
    tracks = [t for t in read_medleydb(medleydb_root, sample_rate=SR) if t.name == "Trio_Allegro"]
    sampler = StemSampler(tracks, 600, 400, batch_size=8, seed=0, gain_db=(0.0, 0.0), keep_probability=1.0)
    inputs, targets = sampler.batch(0)
    context = sampler.context
    for mix, presence, target in zip(inputs["mix"][..., 0], inputs["presence"], targets[..., 0]):
        np.testing.assert_array_equal(presence, presence_vector(("vn", "vc")))
        leftover = mix[context:context + 400] - target.sum(axis=0)
        assert np.abs(leftover).max() > 0.1  # the piano is in the mix...
        assert dominant_hz(leftover[None], SR) == pytest.approx(220, abs=SR / 400)  # ...and only the piano


def test_bach10_layout(tmp_path):
    for number, title in ((1, "AchGottundHerr"), (2, "AchLiebenChristen")):
        folder = tmp_path / f"{number:02d}-{title}"
        parts = {"violin": 660, "clarinet": 440, "saxphone": 330, "bassoon": 110}
        for instrument, frequency in parts.items():
            write_audio(folder / f"{folder.name}-{instrument}.wav", tone(frequency), SR)
        write_audio(folder / f"{folder.name}.wav", sum(tone(f) for f in parts.values()), SR)
    assert detect_format(tmp_path) == "bach10"
    tracks = read_dataset(tmp_path, sample_rate=SR)
    assert [t.name for t in tracks] == ["01-AchGottundHerr", "02-AchLiebenChristen"]
    assert tracks[0].codes == ("vn", "cl", "sax", "bn") and tracks[0].dataset == "bach10"
    np.testing.assert_allclose(tracks[0].targets().sum(axis=0), tracks[0].mixture(), atol=1e-6)
    write_audio(tmp_path / "01-AchGottundHerr" / "01-AchGottundHerr-piano.wav", tone(100), SR)
    with pytest.raises(AvsepError, match="unknown Bach10 instrument 'piano'"):
        read_bach10(tmp_path)


def test_unknown_format_and_missing_folder_are_one_line_errors(tmp_path):
    with pytest.raises(AvsepError, match="unknown dataset format"):
        read_dataset(tmp_path, "dsd100")
    with pytest.raises(AvsepError, match="no such dataset folder"):
        read_dataset(tmp_path / "absent")
    with pytest.raises(AvsepError, match="no URMP piece folders"):
        read_dataset(tmp_path)


def test_synthetic_pieces_of_one_score_never_cross_the_validation_split(tmp_path):
    scores = ["bach/bwv1.mxl", "bach/bwv2.mxl", "mozart/k80.mxl", "haydn/op1.mxl"]
    for number in range(1, 13):
        folder = write_piece(tmp_path, number, ("vn", "vc"), seconds=0.1)
        (folder / "meta.json").write_text(json.dumps({"score": scores[number % 4]}))
    tracks = read_urmp(tmp_path)
    assert {t.group for t in tracks} == {f"score:{s}" for s in scores}
    train, validation = validation_split(tracks, 0.3)
    assert train and validation and len(train) + len(validation) == 12
    assert not {t.group for t in train} & {t.group for t in validation}
    assert validation_split(tracks, 0.3) == (train, validation)  # stable


def test_held_out_fraction_is_uniform_enough():
    fractions = np.array([held_out_fraction(f"score:piece{i}") for i in range(2000)])
    assert 0.0 <= fractions.min() and fractions.max() < 1.0
    assert np.mean(fractions < 0.1) == pytest.approx(0.1, abs=0.02)


def test_cli_lists_what_the_reader_sees(medleydb_root, tmp_path, capsys):
    from data.readers import main

    assert main([str(medleydb_root)]) == 0
    out = capsys.readouterr().out
    assert "Trio_Allegro  piano, vn, vc" in out and "artist:Trio" in out
    assert "3 medleydb tracks, 2 groups" in out
    outside = out.split("outside the vocabulary (accompaniment, no target): ")[1].strip()
    assert sorted(outside.split(", ")) == ["drum set+cymbal x1", "piano x1"]
    assert main([str(tmp_path / "absent")]) == 2
    assert capsys.readouterr().err.startswith("error: no such dataset folder")
