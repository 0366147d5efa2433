"""Presence from both senses (fusion.evidence): the rule, on evidence written by hand."""
import json

import numpy as np
import pytest

from fusion.evidence import fuse
from fusion.instruments import CODES, index_of
from fusion.presence import Presence

SECONDS = 40


def sense(values_by_code, source, players=None, people=None, others=0):
    """A Presence of ``SECONDS`` rows (1 s hop) with the given per-code timelines (arrays or constants);
    a picture's ``players`` score, ``people`` and instruments not ours (``others``) seen."""
    values = np.zeros((SECONDS, len(CODES)), dtype=np.float32)
    for code, value in values_by_code.items():
        values[:, index_of(code)] = value
    meta = {"source": source, "duration_s": float(SECONDS)}
    if players is not None:
        meta["players"] = {"score": list(np.broadcast_to(players, SECONDS).astype(float)),
                           "count": list(np.broadcast_to(people, SECONDS).astype(int)),
                           "others": list(np.broadcast_to(others, SECONDS).astype(int))}
    return Presence(np.arange(float(SECONDS)), values, values.max(axis=0), 1.0, meta)


def test_the_sound_says_what_the_picture_says_who_is_there():
    heard = sense({"va": 0.9, "db": 0.2}, "audio")
    seen = sense({"vn": 0.6, "vc": 0.7}, "video", players=0.8, people=2)  # Open Images: Violin, Cello
    fused = fuse(seen, heard)
    assert fused.present_codes() == ("va",)  # the picture's "Violin" supports a viola; its "Cello" alone decides nothing
    assert fused.clip[index_of("db")] < 0.5 < fused.clip[index_of("va")]
    assert fused.clip[index_of("vn")] < 0.5  # seen, not heard


def test_the_picture_lifts_a_hesitant_sound_of_an_instrument_it_shows():
    seen = sense({"fl": 0.8}, "video", players=0.8, people=1)
    assert fuse(seen, sense({"fl": 0.35}, "audio")).present_codes() == ("fl",)
    assert fuse(sense({}, "video", players=0.8, people=1), sense({"fl": 0.35}, "audio")).present_codes() == ()


def test_a_player_who_leaves_the_picture_turns_off_there_and_on_again():
    players = np.full(SECONDS, 0.7)
    players[15:27] = 0.0  # nobody in the picture for 12 s
    fused = fuse(sense({}, "video", players=players, people=1), sense({"cl": 0.9}, "audio"))
    playing = fused.at(np.arange(SECONDS), threshold=0.5)[:, index_of("cl")]
    assert playing[:12].all() and playing[30:].all()
    assert not playing[19:24].any()
    assert fused.present_codes() == ("cl",)


def test_more_instruments_heard_than_people_seen_keeps_the_strongest():
    fused = fuse(sense({}, "video", players=0.9, people=1), sense({"vc": 0.9, "db": 0.6}, "audio"))
    assert fused.present_codes() == ("vc",)
    fused = fuse(sense({}, "video", players=0.9, people=2), sense({"vc": 0.9, "db": 0.6}, "audio"))
    assert fused.present_codes() == ("vc", "db")


def test_players_of_instruments_not_ours_leave_no_room_for_ours():
    heard = sense({"db": 0.6, "tbn": 0.7}, "audio")  # what a guitar and a piano may sound like to the tagger
    fused = fuse(sense({}, "video", players=0.7, people=2, others=2), heard)  # a guitarist and a pianist
    assert fused.present_codes() == ()
    assert fused.to_json()["players"]["others"][0] == 2
    trio = sense({"vn": 0.9, "vc": 0.8, "db": 0.6}, "audio")  # a piano trio: the piano heard as a bass
    assert fuse(sense({}, "video", players=0.9, people=3, others=1), trio).present_codes() == ("vn", "vc")
    for_a_while = np.where(np.arange(SECONDS) < 10, 1, 0)  # the guitarist is seen for the first 10 s only
    fused = fuse(sense({}, "video", players=0.9, people=1, others=for_a_while), sense({"sax": 0.9}, "audio"))
    playing = fused.at(np.arange(SECONDS), threshold=0.5)[:, index_of("sax")]
    assert not playing[:5].any() and playing[20:].all()


def test_a_picture_without_any_player_leaves_the_sound_alone_with_a_warning():
    fused = fuse(sense({}, "video", players=0.0, people=0), sense({"tpt": 0.8}, "audio"))
    assert fused.present_codes() == ("tpt",)
    assert "sound alone" in fused.meta["warnings"][0]


def test_the_fused_json_keeps_each_senses_scores_and_loads_back(tmp_path):
    fused = fuse(sense({"vn": 0.9}, "video", players=0.9, people=1), sense({"vn": 0.8, "va": 0.3}, "audio"))
    fused.save(tmp_path / "p.json")
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["source"] == "video+audio"
    assert data["senses"]["audio"]["clip"]["va"] == pytest.approx(0.3)
    assert data["senses"]["video"]["clip"]["vn"] == pytest.approx(0.9)
    assert len(data["players"]["gate"]) == len(data["timeline"]["times"])
    assert Presence.load(tmp_path / "p.json").present_codes() == ("vn",)


def test_the_fused_json_says_when_the_sound_named_its_likeliest_instruments():
    heard = sense({"ob": 0.4, "cl": 0.3}, "audio")
    heard.meta["unsure_gain"] = 2.08
    fused = fuse(sense({}, "video", players=0.9, people=2), heard).to_json()
    assert fused["senses"]["audio"]["unsure_gain"] == 2.08 and "unsure_gain" not in fused["senses"]["video"]
