"""What the fault scenarios ask of the stack they break (eval/probes/rig.py `FaultTarget`), on the one
node and on the scale-out set, and the PostgreSQL faults of eval/probes/scale_faults.py — without
starting a server: stacks whose services are built and never started."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from bot.stack import Stack, Supervisor
from eval.probes.faults import LogMark
from eval.probes.rig import Rig, ScaleRig
from eval.probes.scale_faults import read_only_statements, refuse_connections_statements


def stack(folder: Path, *names: str) -> Stack:
    """A stack on made-up ports whose named services exist but never ran."""
    built = Stack(1, 2, 3, log_dir=folder, api_token="", rest_token="t", action_token="a", session_secret="s")
    makers = {"rasa": built.rasa_service, "actions": built.action_service, "notifier": built.notifier_service}
    built.services = {name: makers[name]() for name in names}
    return built


def scale_rig(tmp_path: Path) -> ScaleRig:
    replicas = [stack(tmp_path / f"replica-{x}", "actions", "rasa") for x in "ab"]
    notifiers = [stack(tmp_path / f"notifier-{x}", "notifier") for x in "ab"]
    scale = SimpleNamespace(
        rasa=replicas,
        notifier=notifiers,
        url="http://127.0.0.1:9",
        rest_token="t",
        cases_url="postgresql+psycopg://ipbot@127.0.0.1:1/cases",
        replicas_of=lambda header: [
            {"127.0.0.1:11": "rasa-a", "127.0.0.1:12": "rasa-b"}[a.strip()] for a in header.split(",") if a.strip()
        ],
    )
    names = [f"replica-{x}" for x in "ab"] + [f"notifier-{x}" for x in "ab"]
    return ScaleRig(scale, {n: Supervisor(s) for n, s in zip(names, [*replicas, *notifiers], strict=True)}, 0.0)


def test_the_scale_out_set_names_each_process_by_kind_and_replica(tmp_path):
    rig = scale_rig(tmp_path)
    assert rig.names("rasa") == ["rasa-a", "rasa-b"]
    assert rig.names("actions") == ["actions-a", "actions-b"]
    assert rig.names("notifier") == ["notifier-a", "notifier-b"]
    assert rig.service("rasa-b") is rig.scale.rasa[1].services["rasa"]
    assert rig.service("notifier-a") is rig.scale.notifier[0].services["notifier"]
    assert rig.watch("actions-b") is rig.watched["replica-b"].watches["actions"]
    assert rig.cases.startswith("postgresql") and rig.failover


def test_the_consent_goes_to_the_replica_that_did_not_serve_the_last_message(tmp_path):
    rig = scale_rig(tmp_path)
    assert rig.next_rasa(["rasa-a"]) == "rasa-b"
    assert rig.next_rasa(["rasa-a", "rasa-b"]) == "rasa-a"  # nginx tried a, b answered
    assert rig.next_rasa([]) in ("rasa-a", "rasa-b")
    assert rig.replicas_of("127.0.0.1:11, 127.0.0.1:12") == ["rasa-a", "rasa-b"]


def test_aiming_at_a_replica_moves_nginxs_round_robin_on_only_when_needed(tmp_path, monkeypatch):
    rig = scale_rig(tmp_path)
    gets: list[str] = []
    monkeypatch.setattr(rig, "upstream_of_health_check", lambda: gets.append("rasa-b") or "rasa-b")
    assert rig.aim_at("rasa-b", ["rasa-a"]) == "rasa-b" and gets == []  # b comes next anyway
    assert rig.aim_at("rasa-a", ["rasa-a"]) == "rasa-a" and gets == ["rasa-b"]  # one GET served by b: a next


def test_the_one_node_rig_offers_the_same_names_for_its_single_processes(tmp_path):
    single = stack(tmp_path / "logs", "actions", "rasa", "notifier")
    rig = Rig(single, Supervisor(single), tmp_path, tmp_path / "cases.db", tmp_path / "sink.jsonl", 0.0)
    assert [rig.names(k) for k in ("rasa", "actions", "notifier")] == [["rasa"], ["actions"], ["notifier"]]
    assert rig.aim_at("rasa", ["whatever"]) == "rasa" and not rig.failover
    assert rig.cases == tmp_path / "cases.db" and rig.rest_url == single.rasa_url


def test_a_log_mark_returns_only_what_every_process_of_a_kind_wrote_since(tmp_path):
    rig = scale_rig(tmp_path)
    for x in "ab":
        (tmp_path / f"replica-{x}").mkdir(parents=True, exist_ok=True)
        (tmp_path / f"replica-{x}" / "actions.log").write_text("old line\n", encoding="utf-8")
    mark = LogMark(rig, "actions")
    with (tmp_path / "replica-b" / "actions.log").open("a", encoding="utf-8") as log:
        log.write("ERROR case could not be saved\n")
    assert mark.lines() == ["actions-b: ERROR case could not be saved"]


def test_the_postgresql_faults_change_the_database_setting_and_change_it_back():
    assert read_only_statements("cases", True) == ['ALTER DATABASE "cases" SET default_transaction_read_only = on']
    assert read_only_statements("cases", False) == ['ALTER DATABASE "cases" RESET default_transaction_read_only']
    assert refuse_connections_statements("cases", True) == ['ALTER DATABASE "cases" ALLOW_CONNECTIONS false']
    assert refuse_connections_statements("cases", False) == ['ALTER DATABASE "cases" ALLOW_CONNECTIONS true']
