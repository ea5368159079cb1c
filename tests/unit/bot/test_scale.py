"""The pieces of the scale-out set that need no server: nginx's configuration, publishing an index build,
counting deliveries, reading which replica served a turn (bot/scale.py; the set itself: tests/e2e/test_scale.py)."""

from __future__ import annotations

import json
import re

from bot.scale import Deliveries, Reply, ScaleSet, cited_review_dates, nginx_service, publish_build


def test_nginx_listens_on_loopback_only_and_passes_failed_turns_on(tmp_path):
    service = nginx_service(40001, [40002, 40003], tmp_path / "nginx")
    conf = (tmp_path / "nginx" / "nginx.conf").read_text(encoding="utf-8")
    assert re.findall(r"listen\s+([^;]+);", conf) == ["127.0.0.1:40001"]
    assert re.findall(r"server\s+([\d.]+:\d+)", conf) == ["127.0.0.1:40002", "127.0.0.1:40003"]
    assert "proxy_next_upstream error timeout http_502;" in conf
    assert "non_idempotent" not in conf  # a message a replica received is never handled twice
    assert "add_header X-Upstream $upstream_addr always;" in conf
    assert all(str(tmp_path / "nginx") in line for line in conf.splitlines() if re.search(r"(pid|_log|_path) ", line))
    assert service.command[-2:] == ["-g", "daemon off;"] and service.health_url == "http://127.0.0.1:40001/nginx-health"


def make_build(index, name: str) -> None:
    build = index / "builds" / name
    build.mkdir(parents=True)
    (build / "manifest.json").write_text(json.dumps({"build": name}), encoding="utf-8")
    (index / "CURRENT").write_text(name + "\n", encoding="utf-8")


def test_publishing_copies_the_build_before_it_moves_each_pointer(tmp_path):
    builder, a, b = tmp_path / "builder", tmp_path / "a", tmp_path / "b"
    make_build(builder, "new")
    make_build(a, "old")
    b.mkdir()
    assert publish_build(builder, [a, b]) == "new"
    for index in (a, b):
        assert (index / "CURRENT").read_text(encoding="utf-8") == "new\n"
        assert (index / "builds" / "new" / "manifest.json").is_file()
        assert not list(index.glob("CURRENT.tmp")) and not list((index / "builds").glob(".*"))
    assert (a / "builds" / "old").is_dir()  # the build serving until now stays until someone removes it
    assert publish_build(builder, [a]) == "new"  # publishing again is harmless


def test_a_pointer_never_names_a_build_that_is_not_there_yet(tmp_path, monkeypatch):
    import shutil

    builder, target = tmp_path / "builder", tmp_path / "target"
    make_build(builder, "new")
    make_build(target, "old")
    seen: list[str] = []
    copy = shutil.copytree

    def watching_copy(src, dst, *args, **kwargs):
        seen.append((target / "CURRENT").read_text(encoding="utf-8").strip())  # while the folder is copied
        return copy(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copytree", watching_copy)
    publish_build(builder, [target])
    assert seen == ["old"]


def test_deliveries_are_exactly_once_only_when_every_row_is_sent_once_and_marked():
    statuses = {1: "delivered", 2: "delivered", 3: "delivered"}
    assert Deliveries({"a": [1, 3], "b": [2]}, statuses).exactly_once
    assert not Deliveries({"a": [1, 3], "b": [2, 3]}, statuses).exactly_once  # row 3 twice
    assert not Deliveries({"a": [1], "b": [2]}, statuses).exactly_once  # row 3 never
    assert not Deliveries({"a": [1, 3], "b": [2]}, {**statuses, 3: "pending"}).exactly_once
    assert not Deliveries({"a": [], "b": []}, {}).exactly_once  # nothing to deliver proves nothing
    assert Deliveries({"a": [1, 3], "b": [2, 3]}, statuses).counts()[3] == 2


def test_the_replica_of_a_turn_is_read_from_nginxs_upstream_header(tmp_path):
    scale = ScaleSet(tmp_path)
    scale.rasa = [type("S", (), {"rasa_port": p})() for p in (5101, 5102)]
    assert scale.replica_names() == {"127.0.0.1:5101": "rasa-a", "127.0.0.1:5102": "rasa-b"}
    assert scale.replicas_of("127.0.0.1:5102") == ["rasa-b"]
    # The first refused the connection, the second answered.
    assert scale.replicas_of("127.0.0.1:5101, 127.0.0.1:5102") == ["rasa-a", "rasa-b"]
    assert scale.replicas_of("") == []


def test_an_answer_tells_which_review_dates_its_sources_carry():
    reply = Reply(
        ["rasa-a"],
        [{"text": "…"}, {"custom": {"answered": True, "citations": [{"last_reviewed": "2026-12-02"}, {}]}}],
        0.1,
    )
    assert reply.answered and cited_review_dates(reply) == {"2026-12-02"}
    assert not Reply([], [{"text": "no reliable answer"}], 0.1).answered
