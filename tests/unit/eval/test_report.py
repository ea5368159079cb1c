"""NLU results read back from Rasa's files and split by language; the progress parser; the report
with its plots, from synthetic results (no Rasa, no network)."""

from __future__ import annotations

import json
import sys

import pytest

from eval.toolkit import nlu
from eval.toolkit.answers import AnswerItem, load_signals, score
from eval.toolkit.bot import Reply
from eval.toolkit.conversations import run_conversation
from eval.toolkit.nlu import Prediction, by_language, confusion, intent_metrics, load_predictions
from eval.toolkit.report import Results, percentile, write_report
from eval.toolkit.spec import Vocabulary, load_conversations


def p(text: str, intent: str, predicted: str, lang: str) -> Prediction:
    return Prediction(text, intent, predicted, 0.9, lang)


def test_predictions_are_read_from_rasas_files_with_their_language(tmp_path):
    (tmp_path / "intent_successes.json").write_text(
        json.dumps([{"text": "你好", "intent": "greet", "intent_prediction": {"name": "greet", "confidence": 0.99}}]),
        encoding="utf-8",
    )
    (tmp_path / "intent_errors.json").write_text(
        json.dumps(
            [
                {"text": "bye bye", "intent": "goodbye", "intent_prediction": {"name": "greet", "confidence": 0.6}},
                {"text": "88", "intent": "goodbye", "intent_prediction": {"name": "nlu_fallback", "confidence": 0.4}},
            ]
        ),
        encoding="utf-8",
    )
    rows = load_predictions(tmp_path)
    assert [(r.lang, r.predicted) for r in rows] == [("zh", "greet"), ("en", "greet"), ("none", "nlu_fallback")]


def test_missing_predictions_are_an_error(tmp_path):
    with pytest.raises(RuntimeError, match="no predictions"):
        load_predictions(tmp_path)


def test_metrics_by_language_match_a_hand_count():
    rows = [
        p("你好", "greet", "greet", "zh"),
        p("再见", "goodbye", "greet", "zh"),
        p("hi", "greet", "greet", "en"),
        p("bye", "goodbye", "goodbye", "en"),
        p("88", "goodbye", "nlu_fallback", "none"),
    ]
    stats = by_language(rows, threshold=0.5)
    assert stats["en"]["accuracy"] == 1.0 and stats["en"]["macro_f1"] == 1.0
    zh = stats["zh"]
    assert zh["accuracy"] == 0.5
    # greet: precision 1/2, recall 1/1 → F1 2/3; goodbye: precision 0 (never predicted), recall 0 → F1 0
    assert zh["per_intent"]["greet"]["f1"] == pytest.approx(2 / 3) and zh["per_intent"]["goodbye"]["f1"] == 0
    assert zh["macro_f1"] == pytest.approx(1 / 3)
    assert stats["all"]["below_threshold"] == 0 and stats["none"]["n"] == 1
    assert intent_metrics(rows, threshold=0.95)["below_threshold"] == 1.0
    assert intent_metrics(rows)["weighted_f1"] == pytest.approx((2 * 0.8 + 3 * 0.5) / 5)
    assert confusion(rows, ["greet", "goodbye"]) == [[2, 0], [1, 1]]


def test_the_progress_bar_follows_diet_epochs_across_folds(tmp_path, monkeypatch):
    lines = [
        "INFO Starting to train component 'DIETClassifier'.",
        "Epochs:  50%|#####     | 1/2 [00:01<00:01, 1.0s/it]\rEpochs: 100%|##########| 2/2 [00:02<00:00]",
        "INFO Starting to train component 'DIETClassifier'.",
        "Epochs:  50%|#####     | 1/2 [00:01<00:01, 1.0s/it]",
    ]
    script = "import sys\n" + "".join(f"sys.stdout.write({line!r} + '\\n')\n" for line in lines)
    monkeypatch.setattr(nlu, "diet_epochs", lambda config=None: 2)

    class Bar:
        n = 0

        def update(self, k: int) -> None:
            self.n += k

    seen = []
    bar = Bar()

    def on_line(line: str) -> None:
        seen.append(line)

    code = nlu.run_logged([sys.executable, "-c", script], tmp_path / "log.txt", on_line)
    assert code == 0 and len(seen) == 5  # the \r update arrives as a line of its own
    monkeypatch.setattr(nlu, "run_logged", lambda command, log, on_line: [on_line(x) for x in seen] and 0)
    nlu.cross_validate(tmp_path, 2, bar)
    assert bar.n == 3  # fold 1: 2 epochs, fold 2: 1 epoch


def test_percentile():
    assert percentile([1.0], 95) == 1.0
    assert percentile([float(i) for i in range(1, 101)], 50) == pytest.approx(50.5)


class OneReplyBot:
    def send(self, sender: str, message: str) -> list[dict]:
        return [{"text": "您好！"}]

    def tracker(self, sender: str) -> dict:
        return {"latest_message": {"intent": {"name": "greet", "confidence": 0.99}}, "events": [], "slots": {}}

    def cases(self, sender: str) -> None:
        return None


def test_the_report_has_headline_tables_plots_and_transcript_links(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text(
        "- {name: zh-hi, tags: [zh], turns: [{user: 你好, expect: {contains: 不存在}}]}\n", encoding="utf-8"
    )
    vocab = Vocabulary(frozenset({"greet"}), frozenset(), frozenset(), frozenset(), frozenset())
    convs, _ = load_conversations([path], vocab, root=tmp_path)
    conversation = run_conversation(convs[0], OneReplyBot())
    item = AnswerItem(id="a", lang="en", topic="other", question="tell me a joke", behaviour="refuse")
    signals = load_signals()
    answer = score(item, Reply("tell me a joke", [{"text": signals.out_of_scope[1]}], 0.2), signals)
    rows = [p("你好", "greet", "greet", "zh"), p("hi", "greet", "greet", "en"), p("bye", "goodbye", "greet", "en")]
    results = Results(
        command="python -m eval.run",
        started="2026-11-25 00:00 UTC",
        seconds=60,
        domain_intents=["greet", "goodbye"],
        conversations=[conversation],
        transcripts={"zh-hi": "transcripts/zh-hi.txt"},
        answers=[answer],
        nlu=rows,
        folds=3,
        nlu_seconds=600,
    )
    report = write_report(results, tmp_path)
    text = report.read_text(encoding="utf-8")
    assert "| conversation tests passed (by language tag) | 0/1 | 0/0 | 0/1 |" in text
    assert "[zh-hi](transcripts/zh-hi.txt)" in text and "not in the reply: ['不存在']" in text
    assert "never seen: goodbye" in text
    assert "| NLU intent macro F1 (3-fold CV) | 1.000 | 0.333 | 0.400 |" in text
    assert "| dev/en | 1 | 100% | – | – | – | – | 100% | 100% |" in text
    for png in ("answer-quality.png", "nlu-confusion.png", "latency.png"):
        assert f"]({png})" in text and (tmp_path / png).stat().st_size > 5_000


def scored(item_id: str, split: str, reply: Reply, **kw) -> object:
    signals = load_signals()
    base = {"id": item_id, "lang": "en", "topic": "dispute", "question": f"question {item_id}", "behaviour": "answer"}
    item = AnswerItem.model_validate({**base, **kw})
    item._split, item._file, item._line = split, f"eval/answers/{split}/x.yml", 1
    return score(item, reply, signals)


def test_the_answer_section_shows_dev_and_test_apart_with_one_cause_per_failing_item(tmp_path):
    signals = load_signals()
    cited = {
        "doc_id": "dispute-warning-letter",
        "section_id": "first-steps",
        "path": "knowledge/disputes/warning-letter.md",
    }
    answer = Reply(
        "q",
        [{"text": "Do not ignore it."}, {"custom": {"answered": True, "citations": [cited], "kind": "answer"}}],
        0.1,
    )
    no_answer = Reply(
        "q", [{"text": "Sorry"}, {"custom": {"answered": False, "citations": [], "kind": "no_answer"}}], 0.1
    )
    refusal = Reply("q", [{"text": "No."}, {"custom": {"answered": False, "citations": [], "kind": "refusal"}}], 0.1)
    out_of_scope = Reply("q", [{"text": signals.out_of_scope[1]}], 0.1)
    scores = [
        scored("d1", "dev", answer, doc="dispute-warning-letter"),
        scored("d2", "dev", no_answer, doc="dispute-warning-letter"),
        scored("t1", "test", answer, doc="dispute-warning-letter", context=["we got a letter"]),
        scored("t2", "test", answer, doc="dispute-section-337"),
        scored("t3", "test", refusal, behaviour="improper"),
        scored("t4", "test", answer, behaviour="out_of_scope", topic="other"),
        scored("t5", "test", out_of_scope, behaviour="out_of_scope", topic="other"),
    ]
    results = Results(command="python -m eval.run", started="2026-11-25 00:00 UTC", seconds=60, answers=scores)
    text = write_report(results, tmp_path).read_text(encoding="utf-8")
    head = text[text.index("## Headline") : text.index("## Answer quality")]
    assert "dev n=2 (tuned on), test n=5 (held out: never tune on it)" in head
    assert "| dev/en | 2 | 50% | 50% | 50% | – | – | – | 100% |" in head
    assert "| test/en | 5 | 80% | 100% | 50% | – | – | 67% | 100% |" in head
    section = text[text.index("## Answer quality") :]
    causes = section[section.index("Failure causes") : section.index("![answer quality]")]
    assert "| part / language | n | failing | gate false negative | refusal missing | wrong section |" in causes
    assert "| dev/en | 2 | 1 | 1 |  |  |" in causes and "| test/en | 5 | 2 |  | 1 | 1 |" in causes
    dev = section[section.index("### dev (tuned on, n=2)") : section.index("### test")]
    test = section[section.index("### test (held out: never tune on it, n=5)") :]
    assert "| `eval/answers/dev/x.yml:1` | gate false negative | question d2 |" in dev and "question t" not in dev
    assert "| `eval/answers/test/x.yml:1` | wrong section | question t2 |" in test
    assert "| `eval/answers/test/x.yml:1` | refusal missing | question t4 |" in test
    assert "question t1" not in test and "question t3" not in test and "question t5" not in test
    assert "Failing items (2 of 5)" in test
    assert (tmp_path / "answer-quality.png").stat().st_size > 5_000
