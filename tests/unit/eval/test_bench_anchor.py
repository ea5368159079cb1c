"""The anchor benchmark's pure helpers: percentiles and spreads, /proc/<pid>/stat parsing, the
alternating order of the bots, the additions to a `rasa init` project (on stand-ins for its files in a
temporary folder; no Rasa, no servers), py-spy's stacks summed up; and the retrieval benchmark's copies that share the text."""

from __future__ import annotations

import yaml

from eval.bench_anchor import flame_summary, interleaved_order, percentile, prepare_bare_project, spread, stat_fields
from eval.bench_retrieval import make_corpus


def test_percentile_interpolates_and_takes_one_value_as_it_is():
    assert percentile([7.0], 95) == 7.0
    assert percentile([float(x) for x in range(1, 102)], 50) == 51.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == 4.8


def test_spread_is_median_lowest_highest():
    assert spread([1.4, 1.1, 2.0, 1.6]) == (1.5, 1.1, 2.0)


def test_stat_fields_reads_group_and_cpu_ticks_past_a_command_name_with_spaces_and_brackets():
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
    text = "4242 (python (x) y) S 1 4240 4240 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 3 0 0"
    assert stat_fields(text) == (4240, 281)


def test_the_bot_that_goes_first_alternates_with_repetition_and_workload():
    assert interleaved_order(0, 0) == ("ours", "bare")
    assert interleaved_order(0, 1) == ("bare", "ours")
    assert interleaved_order(1, 0) == ("bare", "ours")
    assert interleaved_order(1, 1) == ("ours", "bare")


def test_bare_project_gets_the_action_a_rule_and_stories_that_run_it(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "domain.yml").write_text('version: "3.1"\nintents:\n  - greet\n', encoding="utf-8")
    (tmp_path / "data" / "rules.yml").write_text('version: "3.1"\nrules:\n', encoding="utf-8")
    (tmp_path / "data" / "stories.yml").write_text(
        'version: "3.1"\nstories:\n- story: s\n  steps:\n  - intent: greet\n  - action: utter_greet\n',
        encoding="utf-8",
    )
    prepare_bare_project(tmp_path)
    domain = yaml.safe_load((tmp_path / "domain.yml").read_text(encoding="utf-8"))
    rules = yaml.safe_load((tmp_path / "data" / "rules.yml").read_text(encoding="utf-8"))["rules"]
    stories = yaml.safe_load((tmp_path / "data" / "stories.yml").read_text(encoding="utf-8"))["stories"]
    assert domain["actions"] == ["action_hello"]
    assert rules[0]["steps"] == [{"intent": "greet"}, {"action": "action_hello"}]
    assert stories[0]["steps"][1] == {"action": "action_hello"}
    assert 'return "action_hello"' in (tmp_path / "bare_actions.py").read_text(encoding="utf-8")
    endpoints = yaml.safe_load((tmp_path / "endpoints.yml").read_text(encoding="utf-8"))
    assert endpoints["action_endpoint"]["headers"]["Authorization"] == "Bearer ${ACTION_SERVER_TOKEN}"
    assert list(yaml.safe_load((tmp_path / "credentials.yml").read_text(encoding="utf-8"))) == ["rest"]


def test_shared_text_copies_differ_from_the_originals_only_in_their_ids(tmp_path):
    per_copy = make_corpus(1, tmp_path, shared_text=True)
    assert make_corpus(2 * per_copy, tmp_path, shared_text=True, copies_from=1) == 2 * per_copy
    original = next((tmp_path / "copy0").rglob("*.md"))
    copy = tmp_path / "copy1" / original.relative_to(tmp_path / "copy0")
    a, b = original.read_text(encoding="utf-8"), copy.read_text(encoding="utf-8")
    assert a != b
    assert a.replace("-copy0", "-copy1", 1) == b


def test_flame_summary_drops_waits_and_the_trunk_and_counts_a_frame_once_per_stack():
    collapsed = [
        'process 7:"python -c from x import y; y()";main (a.py);handle (b.py);embed (c.py) 6',
        "main (a.py);handle (b.py);search (d.py);embed (c.py) 2",
        "main (a.py);handle (b.py) 1",
        "main (a.py);loop (e.py);loop (e.py) 1",  # recursion: one stack, counted once
        "main (a.py);Event.wait (threading.py) 50",  # a waiting thread: not busy
        "garbage",
    ]
    total, by_cumulative, by_own = flame_summary(collapsed, top=3, trunk=0.9)
    assert total == 10
    assert by_cumulative == [("handle (b.py)", 0.9), ("embed (c.py)", 0.8), ("search (d.py)", 0.2)]  # main: trunk
    assert by_own == [("embed (c.py)", 0.8), ("handle (b.py)", 0.1), ("loop (e.py)", 0.1)]
