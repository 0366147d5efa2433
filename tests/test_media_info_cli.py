import pytest

from pipelines.media_info import main


def test_describes_good_files(sine_video, silent_video, capsys):
    assert main([str(sine_video), str(silent_video)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "video 320x240 @ 25 fps" in lines[0] and "audio 44100 Hz x 2 ch" in lines[0]
    assert "no audio" in lines[1]


@pytest.mark.parametrize("fixture", ["text_as_mp4", "empty_file"])
def test_bad_file_is_one_line_and_exit_2(fixture, request, capsys):
    path = request.getfixturevalue(fixture)
    assert main([str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: ") and str(path) in captured.err
    assert "Traceback" not in captured.err


def test_missing_file_does_not_stop_the_others(tmp_path, sine_video, capsys):
    assert main([str(tmp_path / "absent.mp4"), str(sine_video)]) == 2
    captured = capsys.readouterr()
    assert "no such file" in captured.err and "sine.mp4" in captured.out


def test_as_a_process(text_as_mp4):
    import subprocess
    import sys

    from conftest import ROOT

    process = subprocess.run([sys.executable, "-m", "pipelines.media_info", str(text_as_mp4)],
                             capture_output=True, text=True, cwd=ROOT)
    assert process.returncode == 2
    assert process.stderr.strip().count("\n") == 0 and "cannot decode" in process.stderr
