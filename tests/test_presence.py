import json

import numpy as np
import pytest

from common.errors import ConfigError
from fusion.instruments import presence_vector
from fusion.presence import Presence
from fusion.timeline import aggregate, hysteresis, membership, running_max


def test_constant_presence():
    presence = Presence.constant(("vn", "vc"), duration_s=30)
    assert presence.present_codes() == ("vn", "vc")
    np.testing.assert_array_equal(presence.at([0, 10, 29.9]), np.stack([presence_vector(("vn", "vc"))] * 3))
    assert presence.named and Presence.constant(("vn",), source="folder name").named
    heard = Presence.constant(("vn",), source="audio")
    assert heard.sensed and not heard.named and not presence.sensed  # what a sense found is not named


def test_json_round_trip(tmp_path):
    times = np.arange(5.0)
    values = np.zeros((5, 13), dtype=np.float32)
    values[:, 0] = [0.9, 0.8, 0.1, 0.7, 0.9]
    presence = Presence(times, values, values.max(axis=0), hop_s=1.0, meta={"video": "a.mp4"})
    presence.save(tmp_path / "a.presence.json")
    data = json.loads((tmp_path / "a.presence.json").read_text())
    assert data["instruments"][0] == "vn" and data["clip"]["vn"] == pytest.approx(0.9)
    assert data["timeline"]["hop_s"] == 1.0 and len(data["timeline"]["presence"]) == 5 and data["video"] == "a.mp4"
    loaded = Presence.load(tmp_path / "a.presence.json")
    np.testing.assert_allclose(loaded.values, values, atol=1e-4)
    assert loaded.at([2.2], threshold=0.5)[0, 0] == 0 and loaded.at([3.1], threshold=0.5)[0, 0] == 1
    assert not loaded.named and not loaded.sensed  # a file's presence: neither a person's nor the senses'


@pytest.mark.parametrize("text", ["not json", '{"instruments": ["vn"]}', '{"clip": {}}', "[1, 2]"])
def test_bad_presence_files(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ConfigError):
        Presence.load(path)


def test_a_player_hidden_for_a_second_does_not_vanish():
    times = np.arange(20.0)
    scores = np.zeros((20, 13), dtype=np.float32)
    scores[:, 0] = 0.9
    scores[8, 0] = 0.0  # hidden for one frame (1 s)
    scores[12:, 2] = 0.8  # cello enters at 12 s
    presence = aggregate(times, scores, hop_s=1.0, threshold=0.5)
    assert np.all(presence.values[:, 0] == 1)
    assert np.all(presence.values[:10, 2] == 0) and np.all(presence.values[14:, 2] == 1)
    assert presence.present_codes() == ("vn", "vc")


def test_clip_probability_needs_more_than_a_glimpse():
    times = np.arange(60.0)
    scores = np.zeros((60, 13), dtype=np.float32)
    scores[:, 0] = 0.9
    scores[30, 5] = 0.9  # one false detection of an oboe in one frame
    presence = aggregate(times, scores, hop_s=1.0)
    assert presence.clip[0] > 0.8 and presence.clip[5] < 0.1
    assert presence.present_codes() == ("vn",)


def test_hysteresis_and_running_max():
    values = np.array([[0.1], [0.6], [0.4], [0.35], [0.2], [0.55]], dtype=np.float32)
    np.testing.assert_array_equal(hysteresis(values, on=0.5, off=0.3)[:, 0], [0, 1, 1, 1, 0, 1])
    np.testing.assert_array_equal(running_max(np.array([[0.0], [1.0], [0.0], [0.0]]), 1)[:, 0], [1, 1, 1, 0])


def test_membership_holds_an_instrument_through_its_rests_and_drops_it_long_after():
    times = np.arange(60.0)
    values = np.zeros((60, 13), dtype=np.float32)
    values[:, 0] = 0.9
    values[10:12, 2] = 0.7  # the cello heard for two seconds only
    values[20, 2] = 0.45  # and once just under the threshold
    told = membership(Presence(times, values, values.max(axis=0), 1.0, {"source": "audio"}), hold_s=15.0)
    assert set(np.unique(told.values)) == {0.0, 1.0} and np.all(told.values[:, 0] == 1)
    np.testing.assert_array_equal(np.flatnonzero(told.values[:, 2]), np.arange(0, 27))  # 10 - 15 .. 11 + 15
    assert told.meta["membership"]["hold_s"] == 15.0 and told.meta["source"] == "audio"
