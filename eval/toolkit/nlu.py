"""NLU cross-validation and the dialogue test stories, run with Rasa (`.venv-rasa/bin/rasa`) as a
subprocess, and their results read back: per-example intent predictions split by language (zh/en,
with actions/language.py's detector), per-language metrics and confusion matrices, story accuracy.

Cross-validation is stratified k-fold over all NLU data (bot/data): DIET is trained once per fold,
every example is predicted exactly once by a model that did not see it. The folds are drawn with a
fixed seed (Rasa's own command shuffles them unseeded), so two runs on the same data are comparable.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from actions.language import detect_language
from bot.stack import MODEL, RASA, ROOT

CONFIG = ROOT / "config.yml"
DOMAIN = ROOT / "bot" / "domain.yml"
NLU_DATA = ROOT / "bot" / "data"
TEST_STORIES = ROOT / "bot" / "tests"
_EPOCH = re.compile(r"Epochs:\s+\d+%\S*\s*\|\s*(\d+)/(\d+)")
_FOLD_START = "Starting to train component 'DIETClassifier'"
_CV_DONE = "Accumulated test folds intent evaluation results"
_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) ")
_FOLD_END = "Finished training component 'DIETClassifier'"
CV_SEED = 42
FOLD_TIMES = "fold_times.json"
# `rasa …` with scikit-learn's StratifiedKFold seeded (rasa.nlu.test.generate_folds imports it at call
# time) and Rasa's training cache off, so that every fold trains every component and the timings of two
# runs compare.
_SEEDED_RASA = """
import functools, os, sys
os.environ["RASA_MAX_CACHE_SIZE"] = "0"
import sklearn.model_selection as model_selection
model_selection.StratifiedKFold = functools.partial(model_selection.StratifiedKFold, random_state=int(sys.argv.pop(1)))
sys.argv[0] = "rasa"
from rasa.__main__ import main
sys.exit(main())
"""


@dataclass(frozen=True)
class Prediction:
    """One NLU example as the fold that did not train on it predicted it."""

    text: str
    intent: str
    predicted: str
    confidence: float
    lang: str  # zh, en, or "none" (no language signal: "88", "3Q", an e-mail address)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(ROOT), RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    return env


def diet_epochs(config: Path = CONFIG) -> int:
    """DIET's epochs in the pipeline (for the progress bar)."""
    pipeline = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("pipeline") or []
    return next((int(c.get("epochs", 300)) for c in pipeline if c.get("name") == "DIETClassifier"), 300)


def fallback_threshold(config: Path = CONFIG) -> float:
    """The FallbackClassifier's confidence threshold in the pipeline (0 when there is none)."""
    pipeline = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("pipeline") or []
    return next((float(c.get("threshold", 0.3)) for c in pipeline if c.get("name") == "FallbackClassifier"), 0.0)


def run_logged(command: list[str], log: Path, on_line: Callable[[str], None] | None = None) -> int:
    """Runs a command, writes its output to a log file line by line (\\r counts as a line end)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
        assert process.stdout is not None
        try:
            for line in process.stdout:  # universal newlines: tqdm's \r updates arrive as lines
                out.write(line)
                if on_line is not None:
                    on_line(line)
            return process.wait()
        finally:
            if process.poll() is None:  # interrupted: stop Rasa and its children too
                os.killpg(process.pid, 15)
                process.wait(30)


def cross_validate(
    out_dir: Path, folds: int, progress: Any = None, seed: int = CV_SEED, config: Path = CONFIG
) -> float:
    """`rasa test nlu --cross-validation` over bot/data with folds drawn by `seed`; returns its duration
    in seconds and writes each fold's timings to out_dir/fold_times.json (see `fold_times`).

    `progress` (a tqdm bar with total = folds × DIET epochs) advances with DIET's epochs.
    """
    epochs = diet_epochs(config)
    state = {"fold": -1, "epoch": 0}

    def on_line(line: str) -> None:
        if _FOLD_START in line:
            state["fold"] += 1
            state["epoch"] = 0
        elif (m := _EPOCH.search(line)) and state["fold"] >= 0:
            state["epoch"] = int(m.group(1))
        if progress is not None:
            done = max(state["fold"], 0) * epochs + state["epoch"]
            progress.update(min(done, folds * epochs) - progress.n)

    python = RASA.parent / "python"
    command = [
        str(python), "-c", _SEEDED_RASA, str(seed),
        "test", "nlu", "--nlu", str(NLU_DATA), "--config", str(config), "--domain", str(DOMAIN),
        "--cross-validation", "--folds", str(folds), "--successes", "--out", str(out_dir),
    ]  # fmt: skip
    started = time.perf_counter()
    code = run_logged(command, out_dir / "rasa.log", on_line)
    finished = time.perf_counter()
    if code != 0:
        raise RuntimeError(f"rasa test nlu failed (exit {code}); see {out_dir / 'rasa.log'}")
    log_path = out_dir / "rasa.log"
    log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    timings = parse_fold_times(log, first_component(config))
    (out_dir / FOLD_TIMES).write_text(json.dumps({"seed": seed, "folds": timings}, indent=1), encoding="utf-8")
    return finished - started


def first_component(config: Path = CONFIG) -> str:
    """The class name of the pipeline's first component (Rasa logs it when a fold's training starts)."""
    pipeline = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("pipeline") or [{}]
    return str(pipeline[0].get("name", "")).rsplit(".", 1)[-1]


def parse_fold_times(log: str, first: str) -> list[dict[str, float | None]]:
    """Per fold, from the timestamps of Rasa's log: seconds from the start of its training to the
    start of the next fold (training every component, then predicting train and test examples), and
    DIET's training seconds."""
    folds: list[dict[str, datetime]] = []
    end: datetime | None = None
    started_by_first = f"Starting to train component '{first}'" in log  # else (cached): from DIET's start
    for line in log.splitlines():
        stamp = _STAMP.match(line)
        if not stamp:
            continue
        at = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S")
        if f"Starting to train component '{first}'" in line or (_FOLD_START in line and not started_by_first):
            folds.append({"start": at})
        if folds and _FOLD_START in line:
            folds[-1]["diet_start"] = at
        elif folds and _FOLD_END in line:
            folds[-1]["diet_end"] = at
        elif _CV_DONE in line:
            end = end or at
    out = []
    for i, fold in enumerate(folds):
        until = folds[i + 1]["start"] if i + 1 < len(folds) else end
        diet = fold.get("diet_end", fold["start"]) - fold.get("diet_start", fold["start"])
        out.append(
            {
                "fold": i + 1,
                "seconds": (until - fold["start"]).total_seconds() if until else None,
                "diet_seconds": diet.total_seconds(),
            }
        )
    return out


def fold_times(out_dir: Path) -> list[dict[str, float | None]]:
    """Per fold: wall seconds (training the pipeline, then predicting train and test) and DIET's seconds."""
    path = out_dir / FOLD_TIMES
    return json.loads(path.read_text(encoding="utf-8"))["folds"] if path.exists() else []


def load_predictions(out_dir: Path) -> list[Prediction]:
    """Every test-fold prediction: intent_successes.json + intent_errors.json."""
    rows: list[Prediction] = []
    for name in ("intent_successes.json", "intent_errors.json"):
        path = out_dir / name
        if not path.exists():
            continue
        for r in json.loads(path.read_text(encoding="utf-8")):
            predicted = r.get("intent_prediction") or {}
            rows.append(
                Prediction(
                    text=r["text"],
                    intent=r["intent"],
                    predicted=predicted.get("name") or "None",
                    confidence=float(predicted.get("confidence") or 0.0),
                    lang=detect_language(r["text"]) or "none",
                )
            )
    if not rows:
        raise RuntimeError(f"no predictions in {out_dir}: did `rasa test nlu --successes` run?")
    return rows


def rasa_summary(out_dir: Path) -> dict[str, float] | None:
    """Accuracy and macro / weighted F1 from Rasa's own intent_report.json (a cross-check)."""
    path = out_dir / "intent_report.json"
    if not path.exists():
        return None
    report = json.loads(path.read_text(encoding="utf-8"))
    return {
        "accuracy": float(report.get("accuracy", 0.0)),
        "macro_f1": float(report.get("macro avg", {}).get("f1-score", 0.0)),
        "weighted_f1": float(report.get("weighted avg", {}).get("f1-score", 0.0)),
    }


def intent_metrics(predictions: list[Prediction], threshold: float | None = None) -> dict[str, Any]:
    """Accuracy, macro and weighted F1, precision / recall / F1 / support per intent, and the share
    of predictions below the FallbackClassifier's threshold (the live bot asks those to rephrase;
    Rasa's evaluation reverts the fallback, so they count as the intent DIET predicted)."""
    threshold = fallback_threshold() if threshold is None else threshold
    labels = sorted({p.intent for p in predictions})
    tp: Counter[str] = Counter()
    predicted: Counter[str] = Counter()
    support: Counter[str] = Counter()
    for p in predictions:
        support[p.intent] += 1
        predicted[p.predicted] += 1
        if p.intent == p.predicted:
            tp[p.intent] += 1
    per_intent = {}
    for label in labels:
        precision = tp[label] / predicted[label] if predicted[label] else 0.0
        recall = tp[label] / support[label] if support[label] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_intent[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support[label]}
    n = len(predictions)
    return {
        "n": n,
        "accuracy": sum(tp.values()) / n if n else 0.0,
        "macro_f1": sum(m["f1"] for m in per_intent.values()) / len(per_intent) if per_intent else 0.0,
        "weighted_f1": sum(m["f1"] * m["support"] for m in per_intent.values()) / n if n else 0.0,
        "below_threshold": sum(p.confidence < threshold for p in predictions) / n if n else 0.0,
        "threshold": threshold,
        "per_intent": per_intent,
    }


def by_language(predictions: list[Prediction], threshold: float | None = None) -> dict[str, dict[str, Any]]:
    """intent_metrics for all examples and for each language."""
    threshold = fallback_threshold() if threshold is None else threshold
    groups: dict[str, list[Prediction]] = defaultdict(list)
    for p in predictions:
        groups[p.lang].append(p)
    out = {"all": intent_metrics(predictions, threshold)}
    for lang in ("zh", "en", "none"):
        if groups[lang]:
            out[lang] = intent_metrics(groups[lang], threshold)
    return out


def confusion(predictions: list[Prediction], labels: list[str]) -> list[list[int]]:
    """Rows: true intent; columns: predicted intent (labels, in order)."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for p in predictions:
        if p.intent in index and p.predicted in index:
            matrix[index[p.intent]][index[p.predicted]] += 1
    return matrix


def worst_errors(predictions: list[Prediction], n: int = 12) -> list[Prediction]:
    """The misclassified examples the model was most sure about."""
    return sorted((p for p in predictions if p.intent != p.predicted), key=lambda p: -p.confidence)[:n]


@dataclass
class StoriesResult:
    """`rasa test core` on bot/tests: story-level and action-level results."""

    correct: int
    total: int
    action_accuracy: float
    failed: str  # failed_test_stories.yml (predictions as comments), empty when all passed
    seconds: float
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every test story passed."""
        return self.total > 0 and self.correct == self.total


def run_stories(out_dir: Path, model: Path = MODEL, stories: Path = TEST_STORIES) -> StoriesResult:
    """`rasa test core --stories bot/tests` with the trained model (no action server needed)."""
    command = [str(RASA), "test", "core", "--model", str(model), "--stories", str(stories), "--out", str(out_dir)]
    started = time.perf_counter()
    code = run_logged(command, out_dir / "rasa.log")
    seconds = time.perf_counter() - started
    report_path = out_dir / "story_report.json"
    if code != 0 or not report_path.exists():
        raise RuntimeError(f"rasa test core failed (exit {code}); see {out_dir / 'rasa.log'}")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    conv = report.get("conversation_accuracy") or {}
    failed_path = out_dir / "failed_test_stories.yml"
    failed = failed_path.read_text(encoding="utf-8") if failed_path.exists() else ""
    if failed.lstrip().startswith("# None of the test stories failed"):
        failed = ""
    return StoriesResult(
        correct=int(conv.get("correct", 0)),
        total=int(conv.get("total", 0)),
        action_accuracy=float(report.get("accuracy", report.get("micro avg", {}).get("f1-score", 0.0))),
        failed=failed,
        seconds=seconds,
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m eval.toolkit.nlu`: the cross-validation alone, its numbers per language on the terminal."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m eval.toolkit.nlu", description=main.__doc__)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=CV_SEED, help=f"fold assignment seed (default {CV_SEED})")
    parser.add_argument("--config", type=Path, default=CONFIG, help="pipeline config (default config.yml)")
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "reports" / "tmp" / "nlu")
    args = parser.parse_args(argv)
    seconds = cross_validate(args.out, args.folds, seed=args.seed, config=args.config)
    predictions = load_predictions(args.out)
    threshold = fallback_threshold(args.config)
    for lang, m in by_language(predictions, threshold).items():
        worst = sorted(m["per_intent"].items(), key=lambda kv: kv[1]["f1"])[:5]
        print(
            f"{lang:>4}: n={m['n']} accuracy {m['accuracy']:.3f} macro F1 {m['macro_f1']:.3f} "
            f"below {threshold:.2f} {m['below_threshold']:.1%}; worst: "
            + ", ".join(f"{name} {v['f1']:.2f}" for name, v in worst)
        )
    times = fold_times(args.out)
    print(
        f"{args.folds} folds (seed {args.seed}) in {seconds / 60:.1f} min; per fold (train + predict / DIET): "
        + ", ".join(f"{t['seconds'] or 0:.0f}/{t['diet_seconds']:.0f} s" for t in times)
    )
    for p in worst_errors(predictions, 15):
        print(f"  {p.lang} {p.intent} → {p.predicted} {p.confidence:.2f}  {p.text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
