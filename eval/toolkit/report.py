"""The evaluation report: eval/reports/evaluation.md with its PNG plots (NLU confusion matrices,
retrieval recall by topic, answer quality, reply latency) and links to failing transcripts."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.toolkit.answers import BEHAVIOURS, CAUSES, KINDS, SPLITS, AnswerScore, cause_counts, summarise
from eval.toolkit.conversations import ConversationResult
from eval.toolkit.nlu import Prediction, StoriesResult, by_language, confusion, worst_errors

REPORTS = Path(__file__).resolve().parents[1] / "reports"


@dataclass
class Results:
    """Everything one evaluation run measured; a stage that did not run is None."""

    command: str
    started: str
    seconds: float = 0.0
    commit: str = ""
    bot: str = ""  # which bot answered (own stack or a URL)
    stack_start_seconds: float | None = None
    domain_intents: list[str] = field(default_factory=list)
    conversations: list[ConversationResult] | None = None
    transcripts: dict[str, str] = field(default_factory=dict)  # conversation name → transcript path
    answers: list[AnswerScore] | None = None
    nlu: list[Prediction] | None = None
    nlu_seconds: float | None = None
    nlu_rasa: dict[str, float] | None = None  # Rasa's own intent_report.json summary
    folds: int = 0
    stories: StoriesResult | None = None
    retrieval: dict[str, Any] | None = None  # eval.retrieval.run.evaluate() for the default backend
    retrieval_backend: str = ""
    stage_errors: dict[str, str] = field(default_factory=dict)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100), linear interpolation."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[max(1, min(99, round(q))) - 1]


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _cell(text: str, limit: int) -> str:
    """Text for a Markdown table cell: one line, no pipes, cut to a length."""
    flat = " ".join(text.split()).replace("|", "/")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def latencies(results: Results) -> dict[str, list[float]]:
    """Seconds per bot reply: turns whose reply carried an answer payload, and all the others."""
    groups: dict[str, list[float]] = {"answer action": [], "other replies": []}
    replies = [t.reply for c in results.conversations or [] for t in c.turns if t.reply is not None]
    replies += [r for s in results.answers or [] for r in (*s.context_replies, s.reply)]
    for r in replies:
        groups["answer action" if any("answered" in c for c in r.customs) else "other replies"].append(r.seconds)
    return groups


# ---------------------------------------------------------------------------------------------- plots
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(predictions: list[Prediction], path: Path) -> None:
    """Intent confusion matrices side by side for zh and en (row-normalised colour, counts written)."""
    plt = _pyplot()
    intents = sorted({p.intent for p in predictions})
    labels = intents + sorted({p.predicted for p in predictions} - set(intents))
    langs = [lang for lang in ("zh", "en") if any(p.lang == lang for p in predictions)]
    fig, axes = plt.subplots(1, len(langs), figsize=(9.5 * len(langs), 8.5), squeeze=False)
    for ax, lang in zip(axes[0], langs, strict=True):
        subset = [p for p in predictions if p.lang == lang]
        matrix = confusion(subset, labels)[: len(intents)]
        shares = [[v / max(1, sum(row)) for v in row] for row in matrix]
        ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                if v:
                    ax.text(
                        j,
                        i,
                        str(v),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if shares[i][j] > 0.6 else "black",
                    )
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=9)
        ax.set_yticks(range(len(intents)), intents, fontsize=9)
        correct = sum(p.intent == p.predicted for p in subset)
        ax.set_title(
            f"{lang}: {correct}/{len(subset)} examples right ({correct / max(1, len(subset)):.1%})", fontsize=12
        )
        ax.set_xlabel("predicted intent")
        ax.set_ylabel("true intent")
    fig.suptitle("NLU intent confusion (cross-validation, test folds)", fontsize=14)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_retrieval(retrieval: dict[str, Any], backend: str, path: Path) -> None:
    """Recall@1 and Recall@5 by topic and language for each retrieval method."""
    plt = _pyplot()
    metrics = retrieval["metrics"]
    groups = [f"{lang}/{topic}" for topic in ("pph", "rcep", "dispute") for lang in ("zh", "en")]
    methods = ("bm25", "dense", "hybrid")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    width = 0.26
    for ax, k in zip(axes, ("R@1", "R@5"), strict=True):
        for m, method in enumerate(methods):
            values = [metrics[(method, g)][k] for g in groups]
            bars = ax.bar([i + (m - 1) * width for i in range(len(groups))], values, width, label=method)
            if method == "hybrid":
                ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
        ax.set_xticks(range(len(groups)), groups)
        ax.set_ylim(0, 1.08)
        ax.set_title(f"Recall{k[1:]} by topic (top-{k[2:]} sections)")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("share of labelled questions")
    axes[1].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Retrieval on eval/retrieval (embedding: {backend}; hybrid is the bot's default)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_latency(groups: dict[str, list[float]], path: Path) -> None:
    """Histogram of reply latencies (ms, log scale) with p50 / p95 marks."""
    plt = _pyplot()
    import math

    everything = [s * 1000 for v in groups.values() for s in v]
    fig, ax = plt.subplots(figsize=(8, 3.8))
    low, high = max(1.0, min(everything)), max(everything)
    edges = [low * (high / low) ** (i / 30) for i in range(31)] if high > low else [low * 0.9, low * 1.1]
    ax.hist([[s * 1000 for s in v] for v in groups.values()], bins=edges, stacked=True, label=list(groups))
    for q, style in ((50, "--"), (95, ":")):
        value = percentile(everything, q)
        ax.axvline(value, color="black", linestyle=style, linewidth=1)
        ax.text(value, ax.get_ylim()[1] * 0.92, f" p{q} {value:.0f} ms", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("reply latency over REST (ms, log scale)")
    ax.set_ylabel("replies")
    ax.set_title(f"Bot reply latency: {len(everything)} replies, max {max(everything):.0f} ms")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if not math.isfinite(high):
        ax.set_xlim(1, 10_000)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_answers(scores: list[AnswerScore], path: Path) -> None:
    """Answer quality per topic and language, one panel per part (dev, test): behaviour, right
    document, fact coverage, refusals."""
    plt = _pyplot()
    parts = [p for p in SPLITS if any(s.item.split == p for s in scores)]
    measures = (
        ("behaviour", "right behaviour"),
        ("right_doc", "right document cited"),
        ("coverage", "fact coverage"),
        ("refusals", "refusals where expected"),
    )
    fig, axes = plt.subplots(len(parts), 1, figsize=(12, 3.8 * len(parts)), squeeze=False)
    width = 0.2
    for ax, part in zip(axes[:, 0], parts, strict=True):
        subset = [s for s in scores if s.item.split == part]
        table = summarise(subset, lambda s: f"{s.item.lang}/{s.item.topic}")
        order = (f"{lang}/{t}" for t in ("pph", "rcep", "dispute", "other") for lang in ("zh", "en"))
        groups = [g for g in order if g in table]
        for m, (key, label) in enumerate(measures):
            values = [table[g][key] if table[g][key] is not None else 0 for g in groups]
            offsets = [i + (m - 1.5) * width for i in range(len(groups))]
            bars = ax.bar(offsets, values, width, label=label)
            ax.bar_label(bars, labels=[_fmt(table[g][key]) for g in groups], fontsize=6, padding=1)
        ax.set_xticks(range(len(groups)), [f"{g}\n(n={table[g]['n']})" for g in groups])
        ax.set_ylim(0, 1.15)
        ax.set_ylabel("share")
        held = "held out, never tuned on" if part == "test" else "tuned on"
        ax.set_title(f"{part} ({held}): {len(subset)} items")
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.suptitle("Answer quality on eval/answers (live bot)", fontsize=12)
    fig.legend(handles, labels, loc="upper center", ncols=4, fontsize=8, bbox_to_anchor=(0.5, 0.965), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ------------------------------------------------------------------------------------------ markdown
def _conversation_section(r: Results, lines: list[str]) -> None:
    convs = r.conversations or []
    failed = [c for c in convs if not c.ok]
    lines += ["## Conversation tests", ""]
    lines.append(
        f"{len(convs) - len(failed)} of {len(convs)} conversations passed "
        f"({sum(len(c.turns) for c in convs)} turns, {sum(len(t.checks) for c in convs for t in c.turns)} expectations checked)."
    )
    tags = Counter(t for c in convs for t in c.conversation.tags)
    lines += ["", "| tag | conversations | failed |", "|---|---|---|"]
    for tag, n in sorted(tags.items()):
        lines.append(f"| {tag} | {n} | {sum(1 for c in failed if tag in c.conversation.tags)} |")
    seen = {t.reply.intent[0] for c in convs for t in c.turns if t.reply is not None and t.reply.intent[0]}
    missing = [i for i in r.domain_intents if i not in seen]
    lines += [
        "",
        f"Intents the NLU recognised in these conversations: {len(seen & set(r.domain_intents))} of the domain's "
        f"{len(r.domain_intents)}" + (f"; never seen: {', '.join(missing)}." if missing else " (all)."),
    ]
    if failed:
        lines += ["", "### Failing conversations", ""]
        for c in failed:
            link = r.transcripts.get(c.conversation.name)
            name = f"[{c.conversation.name}]({link})" if link else c.conversation.name
            lines.append(f"- {name} (`{c.conversation.where}`)")
            lines += [f"  - `{f}`" for f in c.failures()]
    lines.append("")


PART_NOTE = {"dev": "tuned on", "test": "held out: never tune on it"}
MEASURES = ("behaviour", "cited", "right_doc", "coverage", "all_facts", "refusals", "language")
HEADER = (
    "| {g} | n | behaviour | cited | right doc | facts | all facts | refusals | language |",
    "|---|---|---|---|---|---|---|---|---|",
)


def _rows(table: dict[str, dict[str, Any]], order: list[str], label: Any = str) -> list[str]:
    out = []
    for g in order:
        if g in table:
            t = table[g]
            out.append(f"| {label(g)} | {t['n']} | " + " | ".join(_pct(t[m]) for m in MEASURES) + " |")
    return out


def _parts(scores: list[AnswerScore]) -> list[str]:
    return [p for p in SPLITS if any(s.item.split == p for s in scores)]


def answer_headline(scores: list[AnswerScore]) -> list[str]:
    """The answer-quality headline: one row per part × language, with n."""
    table = summarise(scores, lambda s: f"{s.item.split}/{s.item.lang}")
    parts = summarise(scores, lambda s: s.item.split)
    counts = ", ".join(f"{p} n={parts[p]['n']} ({PART_NOTE[p]})" for p in _parts(scores))
    lines = [f"Answer quality by part — {counts}:", "", HEADER[0].format(g="part / language"), HEADER[1]]
    for p in _parts(scores):
        lines += _rows(table, [f"{p}/{lang}" for lang in ("zh", "en")])
        lines += _rows(parts, [p], lambda g: f"**{g}/all**")
    return lines


def _cause_table(scores: list[AnswerScore]) -> list[str]:
    table = cause_counts(scores, lambda s: f"{s.item.split}/{s.item.lang}")
    order = [f"{p}/{lang}" for p in _parts(scores) for lang in ("zh", "en")]
    causes = [c for c in CAUSES if any(table[g][c] for g in order if g in table)] or list(CAUSES[:1])
    n = summarise(scores, lambda s: f"{s.item.split}/{s.item.lang}")
    lines = [
        "| part / language | n | failing | " + " | ".join(causes) + " |",
        "|---|---|---|" + "---|" * len(causes),
    ]
    for g in order:
        if g in table:
            row = table[g]
            lines.append(
                f"| {g} | {n[g]['n']} | {n[g]['failed']} | " + " | ".join(str(row[c] or "") for c in causes) + " |"
            )
    return lines


def _part_section(part: str, scores: list[AnswerScore], lines: list[str]) -> None:
    lines += [f"### {part} ({PART_NOTE[part]}, n={len(scores)})", ""]
    by_topic = summarise(scores, lambda s: f"{s.item.topic}/{s.item.lang}")
    order = [f"{t}/{lang}" for t in ("pph", "rcep", "dispute", "other") for lang in ("zh", "en")]
    lines += ["By topic:", "", HEADER[0].format(g="topic"), HEADER[1], *_rows(by_topic, order), ""]
    by_behaviour = summarise(scores, lambda s: f"{s.item.behaviour}/{s.item.lang}")
    order = [f"{b}/{lang}" for b in BEHAVIOURS for lang in ("zh", "en")]
    lines += ["By expected behaviour:", "", HEADER[0].format(g="behaviour"), HEADER[1], *_rows(by_behaviour, order)]
    matrix: Counter[tuple[str, str]] = Counter((s.item.behaviour, s.primary) for s in scores)
    kinds = [k for k in KINDS if any(m[1] == k for m in matrix)]
    lines += ["", "Expected behaviour × what the reply mainly showed:", ""]
    lines += ["| expected \\ observed | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    for b in BEHAVIOURS:
        if any(m[0] == b for m in matrix):
            lines.append(f"| {b} | " + " | ".join(str(matrix[(b, k)] or "") for k in kinds) + " |")
    failing = [s for s in scores if not s.ok]
    lines += ["", f"Failing items ({len(failing)} of {len(scores)}), each with its one cause:", ""]
    if failing:
        lines += [
            "| item | cause | question | expected | got | NLU | reply starts | cites | facts missing |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for s in failing:
            cites = "<br>".join(f"{c.get('doc_id')}#{c.get('section_id')}" for c in s.reply.citations) or "–"
            start = _cell(s.reply.texts[0] if s.reply.texts else "(nothing)", 60)
            question = " → ".join([*(f"({_cell(c, 40)})" for c in s.item.context), _cell(s.item.question, 80)])
            lines.append(
                f"| `{s.item.where}` | {s.cause} | {question} | {s.item.behaviour} | {'+'.join(s.kinds)} | "
                f"{s.reply.intent[0] or '–'} | {start} | {cites} | {', '.join(s.missing_facts) or '–'} |"
            )
    lines.append("")


def _answer_section(r: Results, lines: list[str]) -> None:
    scores = r.answers or []
    lines += ["## Answer quality", ""]
    lines.append(
        f"{len(scores)} labelled questions in two parts: eval/answers/dev/ (the part the team tunes on) and "
        "eval/answers/test/ (held out: written from the user's side, never tuned on). Each item is sent to the "
        "live bot as a new conversation — its earlier turns (`context`) first, then the question, whose reply is "
        "scored. *behaviour*: the reply shows what the label expects (answer → a cited answer; handoff → a case "
        "offer or the case form; drafting → a drafting reply or a cited answer, and a case offer; clarify → a "
        "rephrase request or “no reliable answer”; refuse → the out-of-scope reply or “no reliable answer”; "
        "improper → a refusal, no case offer; out_of_scope → the out-of-scope reply). *cited*: items that need a "
        "citation (answer, drafting, handoff with a labelled playbook) with any. *right doc*: items whose reply "
        "cites a labelled document. *facts*: mean share of labelled facts found in the answer's extract (before "
        "its sources); *all facts*: items with every fact. *refusals*: right behaviour where a refusal is "
        "expected (refuse, improper, out_of_scope). *language*: every message in the question's language."
    )
    lines += [
        "",
        "The headline gives these measures per part × language. Per part below: by topic, by behaviour, "
        "the expected × observed matrix and every failing item with its cause.",
        "",
    ]
    lines += [
        "Failure causes (one per failing item, derived from the reply; rules in eval/README.md):",
        "",
        *_cause_table(scores),
        "",
        "![answer quality](answer-quality.png)",
        "",
    ]
    for part in _parts(scores):
        _part_section(part, [s for s in scores if s.item.split == part], lines)


def _nlu_section(r: Results, lines: list[str]) -> None:
    predictions = r.nlu or []
    stats = by_language(predictions)
    lines += ["## NLU (intent classification)", ""]
    lines.append(
        f"`rasa test nlu --cross-validation --folds {r.folds}` over all of bot/data (stratified; DIET trained "
        f"{r.folds} times, {_fmt((r.nlu_seconds or 0) / 60, 1)} min): every example is predicted once by a model "
        "that did not train on it. Per-language numbers are computed from these per-example predictions, each "
        "example's language detected with actions/language.py (examples with no language signal, such as “88”, are "
        "*none*). Rasa's evaluation reverts the FallbackClassifier, so every example counts with DIET's "
        f"intent; *below {stats['all']['threshold']:.2f}* is the share whose confidence is under the "
        "FallbackClassifier's threshold — the live bot asks those users to rephrase. Rasa shuffles the folds "
        "without a fixed seed, so repeated runs differ by a few points (macro F1 0.704 and 0.684 in two runs on "
        "the same data, 2026-11-25)."
    )
    lines += [
        "",
        f"| examples | n | accuracy | macro F1 | weighted F1 | below {stats['all']['threshold']:.2f} |",
        "|---|---|---|---|---|---|",
    ]
    for lang in ("zh", "en", "none", "all"):
        if lang in stats:
            s = stats[lang]
            lines.append(
                f"| {lang} | {s['n']} | {_fmt(s['accuracy'], 3)} | {_fmt(s['macro_f1'], 3)} | "
                f"{_fmt(s['weighted_f1'], 3)} | {_pct(s['below_threshold'])} |"
            )
    if r.nlu_rasa:
        lines += [
            "",
            f"Cross-check with Rasa's own intent_report.json (same predictions): accuracy {r.nlu_rasa['accuracy']:.3f}, "
            f"macro F1 {r.nlu_rasa['macro_f1']:.3f}, weighted F1 {r.nlu_rasa['weighted_f1']:.3f}.",
        ]
    intents = sorted(stats["all"]["per_intent"])
    lines += [
        "",
        "Intent report (F1, with support):",
        "",
        "| intent | zh F1 | zh n | en F1 | en n | all P | all R | all F1 |",
    ]
    lines.append("|---|---|---|---|---|---|---|---|")
    for intent in intents:
        cells = []
        for lang in ("zh", "en"):
            m = stats.get(lang, {}).get("per_intent", {}).get(intent)
            cells += [_fmt(m["f1"]) if m else "–", str(m["support"]) if m else "0"]
        a = stats["all"]["per_intent"][intent]
        lines.append(
            f"| {intent} | "
            + " | ".join(cells)
            + f" | {_fmt(a['precision'])} | {_fmt(a['recall'])} | {_fmt(a['f1'])} |"
        )
    lines += ["", "![NLU confusion matrices](nlu-confusion.png)", "", "Most confident mistakes:", ""]
    lines += ["| lang | text | true | predicted | confidence |", "|---|---|---|---|---|"]
    for p in worst_errors(predictions):
        lines.append(f"| {p.lang} | {_cell(p.text, 80)} | {p.intent} | {p.predicted} | {p.confidence:.2f} |")
    lines.append("")


def _stories_section(r: Results, lines: list[str]) -> None:
    s = r.stories
    assert s is not None
    lines += ["## Dialogue test stories", ""]
    lines.append(
        f"`rasa test core --stories bot/tests`: {s.correct} of {s.total} stories right, action accuracy "
        f"{_fmt(s.action_accuracy, 3)} ({s.seconds:.0f} s). These check the dialogue policy's predictions only — "
        "custom actions do not run there; the conversation tests above run them."
    )
    if s.failed:
        lines += ["", "Failed stories (Rasa's predictions as comments):", "", "```yaml", s.failed.strip(), "```"]
    lines.append("")


def _retrieval_section(r: Results, lines: list[str]) -> None:
    m = (r.retrieval or {}).get("metrics", {})
    lines += ["## Retrieval", ""]
    lines.append(
        f"eval/retrieval's labelled questions ({m.get(('hybrid', 'all'), {}).get('n', 0)}), searched directly "
        f"(no Rasa) with the default backend ({r.retrieval_backend}); the same measure as `make eval-retrieval`, "
        "which compares every backend in eval/reports/retrieval.md."
    )
    lines += ["", "| method | group | R@1 | R@5 | MRR | n |", "|---|---|---|---|---|---|"]
    for method in ("bm25", "dense", "hybrid"):
        for group in ("zh", "en", "pph", "rcep", "dispute"):
            v = m.get((method, group))
            if v:
                lines.append(f"| {method} | {group} | {v['R@1']:.2f} | {v['R@5']:.2f} | {v['MRR']:.2f} | {v['n']} |")
    rates = (r.retrieval or {}).get("answer_rate", {})
    if rates:
        lines += [
            "",
            "The relevance gate (hybrid): share of the labelled questions it lets through (wanted) and of "
            "eval/retrieval/negatives.yml, questions the files do not answer, it lets through (unwanted).",
            "",
            "| | zh | en |",
            "|---|---|---|",
            f"| answerable questions answered | {_pct(rates.get('zh:answerable'))} | {_pct(rates.get('en:answerable'))} |",
            f"| unanswerable questions answered | {_pct(rates.get('zh:negative'))} | {_pct(rates.get('en:negative'))} |",
        ]
    lines += ["", "![retrieval recall by topic](retrieval-recall-by-topic.png)", ""]


def write_report(r: Results, reports: Path = REPORTS) -> Path:
    """Writes evaluation.md and its PNGs; returns the Markdown file's path."""
    reports.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Evaluation report",
        "",
        f"Generated by `{r.command}` on {r.started} in {r.seconds / 60:.1f} min"
        + (f" (commit `{r.commit}`)" if r.commit else "")
        + f". Bot: {r.bot}. The evaluator's guide is [eval/README.md](../README.md).",
        "",
        "## Headline",
        "",
        "| measure | zh | en | all |",
        "|---|---|---|---|",
    ]
    if r.conversations is not None:
        convs = r.conversations
        cells = []
        for lang in ("zh", "en"):
            subset = [c for c in convs if lang in c.conversation.tags]
            cells.append(f"{sum(c.ok for c in subset)}/{len(subset)}")
        cells.append(f"{sum(c.ok for c in convs)}/{len(convs)}")
        lines.append("| conversation tests passed (by language tag) | " + " | ".join(cells) + " |")
    if r.nlu:
        stats = by_language(r.nlu)
        lines.append(
            f"| NLU intent macro F1 ({r.folds}-fold CV) | {_fmt(stats.get('zh', {}).get('macro_f1'), 3)} | "
            f"{_fmt(stats.get('en', {}).get('macro_f1'), 3)} | {_fmt(stats['all']['macro_f1'], 3)} |"
        )
        lines.append(
            f"| NLU intent accuracy | {_fmt(stats.get('zh', {}).get('accuracy'), 3)} | "
            f"{_fmt(stats.get('en', {}).get('accuracy'), 3)} | {_fmt(stats['all']['accuracy'], 3)} |"
        )
    if r.retrieval:
        m = r.retrieval["metrics"]
        lines.append(
            f"| retrieval Recall@5 (hybrid) | {m[('hybrid', 'zh')]['R@5']:.2f} | {m[('hybrid', 'en')]['R@5']:.2f} | "
            f"{m[('hybrid', 'all')]['R@5']:.2f} |"
        )
    if r.stories:
        lines.append(f"| dialogue test stories right | | | {r.stories.correct}/{r.stories.total} |")
    lat = latencies(r)
    everything = [s for v in lat.values() for s in v]
    if everything:
        lines.append(
            f"| reply latency p50 / p95 (ms) | | | {percentile(everything, 50) * 1000:.0f} / {percentile(everything, 95) * 1000:.0f} |"
        )
    if r.stack_start_seconds is not None:
        lines.append(f"| stack start-up (Rasa + action server healthy) | | | {r.stack_start_seconds:.0f} s |")
    if r.answers:
        lines += ["", *answer_headline(r.answers), "", "(Measures defined under *Answer quality* below.)"]
    if r.stage_errors:
        lines += ["", "**Stages that failed to run:**", ""] + [f"- {k}: {v}" for k, v in r.stage_errors.items()]
    lines.append("")
    if r.conversations is not None:
        _conversation_section(r, lines)
    if r.answers:
        plot_answers(r.answers, reports / "answer-quality.png")
        _answer_section(r, lines)
    if r.nlu:
        plot_confusion(r.nlu, reports / "nlu-confusion.png")
        _nlu_section(r, lines)
    if r.stories:
        _stories_section(r, lines)
    if r.retrieval:
        plot_retrieval(r.retrieval, r.retrieval_backend, reports / "retrieval-recall-by-topic.png")
        _retrieval_section(r, lines)
    if everything:
        plot_latency(lat, reports / "latency.png")
        lines += ["## Reply latency", ""]
        lines.append(
            f"Every REST reply of this run ({len(everything)}: conversation turns and answer-quality questions), "
            "measured by the runner from request to reply, on this shared 2-core machine (no other stage of the "
            "evaluation runs meanwhile; other people's work may)."
        )
        lines += ["", "| replies | n | p50 ms | p95 ms | max ms |", "|---|---|---|---|---|"]
        for name, values in lat.items():
            if values:
                ms = [v * 1000 for v in values]
                lines.append(
                    f"| {name} | {len(ms)} | {percentile(ms, 50):.0f} | {percentile(ms, 95):.0f} | {max(ms):.0f} |"
                )
        lines += ["", "![reply latency](latency.png)", ""]
    lines += [
        "## Reproducing",
        "",
        f"`make eval` (or `{r.command}`); the raw outputs (Rasa's NLU and story results, the private stack's "
        "logs) are in eval/reports/tmp/, which is not committed. Guide: [eval/README.md](../README.md).",
        "",
    ]
    path = reports / "evaluation.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
