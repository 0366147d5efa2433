import re

from benchmarks.input_speed import main as input_speed_main


def test_a_configs_batches_are_timed_alone_and_in_worker_processes(dataset, capsys):
    input_speed_main(["--root", str(dataset), "--config", "configs/gpu.yaml", "--workers", "2", "--batches", "2",
                      "--skip-tfrecords"])
    lines = capsys.readouterr().out.splitlines()
    assert re.match(r"NumPy sampler: \d+ examples/s \(batch 32, windows 24563 / 16389, 4 tracks in memory, "
                    r"eq_db 6, repitch 2\)", lines[0])
    assert re.match(r"NumPy sampler in 2 worker processes: \d+ examples/s", lines[1]) and len(lines) == 2


def test_tfrecords_are_timed_at_the_configs_windows(dataset, capsys):
    input_speed_main(["--root", str(dataset), "--config", "configs/gpu.yaml", "--tracks", "2", "--batches", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert re.match(r"TFRecords: [1-9]\d* records written", lines[1])
    assert re.match(r"tf.data from TFRecords \(batch 32, windows 24563 / 16389;.*\): \d+ examples/s", lines[2])
