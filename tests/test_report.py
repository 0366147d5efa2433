"""report.html beside every separation, opened in a real browser (Debian's Chromium, driven by Selenium)."""
import base64
import io
import json
import os
import shutil
import warnings

import numpy as np
import pytest

from audio.io import write_audio
from pipelines import batch, report, separate_video
from pipelines.evaluate import main as evaluate_main
from test_separate import model_path  # noqa: F401  (the pass-through model fixture)
from test_batch import write_mix

DEMO_VIDEO = report.Path(__file__).resolve().parents[1] / "demo" / "Vid_05_Gloria73C_vc_sax_sax.mp4"
DEMO_DETECTOR = DEMO_VIDEO.parents[1] / "models" / "demo_detector.pt"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium with its console log readable, or skip when Chromium or Selenium is missing.

    Its temporary files (a singleton socket folder per run) go under pytest's temporary folder, not /tmp."""
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("chromium and chromium-driver are not installed (scripts/setup.sh installs them)")
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(
        shutil.which("chromedriver"), env={**os.environ, "TMPDIR": str(tmp_path_factory.mktemp("chromium"))}))
    yield driver
    driver.quit()


def picture_is_not_blank(data_uri):
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1]))).convert("L"), float)
    return image.std() > 5


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory, model_path):  # noqa: F811
    """The demo video separated with the demo detector (a pass-through model keeps it fast), moved afterwards."""
    out = tmp_path_factory.mktemp("demo") / "separated"
    assert separate_video.main([str(DEMO_VIDEO), "--detector", str(DEMO_DETECTOR), "--model", str(model_path),
                                "--out", str(out)]) == 0
    moved = out.parent / "moved-elsewhere"
    out.rename(moved)  # the report must not depend on where it was written
    return moved


def test_the_demo_report_plays_every_stem_and_shows_its_pictures_in_a_browser(demo_folder, browser):
    from selenium.webdriver.common.by import By

    manifest = json.loads((demo_folder / "manifest.json").read_text())
    assert manifest["instruments"] and (demo_folder / "report.html").exists()
    browser.get((demo_folder / "report.html").as_uri())
    players = browser.find_elements(By.TAG_NAME, "audio")
    sources = sorted(p.get_attribute("src").rsplit("/", 1)[1] for p in players)
    assert sources == sorted(["mixture.flac", *manifest["stems"]])
    for player in players:  # each player's file loads and decodes: the browser knows its duration
        browser.execute_script("arguments[0].preload = 'auto'; arguments[0].load();", player)
    durations = [browser.execute_script(
        "const a = arguments[0]; return await new Promise(r => { if (a.readyState >= 1) r(a.duration); "
        "a.onloadedmetadata = () => r(a.duration); a.onerror = () => r(-1); setTimeout(() => r(-2), 5000); });", p)
        for p in players]
    assert all(abs(d - manifest["duration_s"]) < 0.5 for d in durations), durations
    images = browser.find_elements(By.TAG_NAME, "img")
    alts = [image.get_attribute("alt") for image in images]
    assert "presence timeline" in alts and "sampled frames with boxes" in alts
    assert sum(alt.startswith("spectrogram of") for alt in alts) == len(players)
    for image in images:
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", image)
        assert picture_is_not_blank(image.get_attribute("src")), image.get_attribute("alt")
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []


def test_a_report_is_made_again_from_a_finished_folder(demo_folder, capsys):
    (demo_folder / "report.html").unlink()
    assert report.main([str(demo_folder)]) == 0
    assert (demo_folder / "report.html").read_text().count("<audio") == len(
        json.loads((demo_folder / "manifest.json").read_text())["stems"]) + 1
    assert report.main([str(demo_folder.parent / "absent")]) == 2
    assert "no readable manifest.json" in capsys.readouterr().err


def test_batch_index_links_every_finished_items_report(tmp_path, model_path):  # noqa: F811
    from pipelines import separate_audio

    write_mix(tmp_path / "urmp", "01_Good_vn_vc")
    assert separate_audio.main([str(tmp_path / "urmp" / "01_Good_vn_vc" / "AuMix_01_Good_vn_vc.wav"), "--instruments",
                                "vn,vc", "--model", str(model_path), "--out", str(tmp_path / "out" / "01_Good_vn_vc")]) == 0
    rows = [{"item": "01_Good_vn_vc", "status": "done", "instruments": "vn,vc", "reason": ""},
            {"item": "02_Broken_tpt", "status": "failed", "instruments": "", "reason": "cannot decode <x>"}]
    index = batch.write_batch_index(tmp_path / "out", rows).read_text()
    assert 'href="01_Good_vn_vc/report.html"' in index and "02_Broken_tpt</td>" in index
    assert "cannot decode &lt;x&gt;" in index  # escaped


def test_evaluation_writes_a_report_with_scores_and_violins(tmp_path):
    t = np.arange(22050) / 22050
    for name, frequency in (("vn", 440), ("vc", 220)):
        write_audio(tmp_path / "ref" / "01_Piece_vn_vc" / f"{name}.wav", np.sin(2 * np.pi * frequency * t), 22050)
        write_audio(tmp_path / "est" / "01" / f"{name}.wav", np.sin(2 * np.pi * frequency * t) + 0.1, 22050)
    assert evaluate_main(["--references", str(tmp_path / "ref"), "--estimates", f"ours={tmp_path / 'est'}",
                          "--out", str(tmp_path / "eval")]) == 0
    page = (tmp_path / "eval" / "report.html").read_text()
    assert "<td>ours</td>" in page and 'alt="violin plots' in page and "data:image/png;base64," in page


def test_spectrograms_of_a_sound_shorter_than_one_window_draw_without_warnings(tmp_path):
    write_audio(tmp_path / "tiny.wav", np.full(200, 0.1, np.float32), 44100)  # 4.5 ms, under one 2048 window
    duration, _, level = report.spectrogram_db(tmp_path / "tiny.wav")
    assert duration == pytest.approx(200 / 44100) and level.shape[1] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pictures = report.spectrogram_pictures({"tiny": tmp_path / "tiny.wav"})
    assert pictures["tiny"].startswith("data:image/png;base64,")
