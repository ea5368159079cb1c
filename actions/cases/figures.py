"""The service's own figures, for the guidance centre's monitoring (the provincial plan asks for it;
the EU IP helpdesks publish "answered within 3 working days"): cases per month by market and by
incident, the time from a case to its first acceptance by an expert, and the share accepted within
the time the enterprise was promised. From the case database only; no names or contacts.

    python -m actions.cli figures [--since 2026-01] [--csv figures.csv] [--chart figures.png]

Satisfaction: the enterprise's last rating of each closed case (1–5, asked on Telegram when the case is
closed), as a mean and as points out of 100 (mean × 20), the scale of the province's target (≥ 83).
Enterprises on the web or by e-mail are not asked yet, so the figure covers Telegram cases only.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.privacy import open_private
from actions.store import Case

ACCEPTED_KINDS = ("accepted", "assigned")  # an expert took the case, or staff assigned one


@dataclass(frozen=True)
class CaseFigure:
    """One case as the figures count it."""

    case_no: str
    month: str  # YYYY-MM of its opening
    country: str
    ip_type: str
    incident: str
    urgent: bool
    status: str
    promised_hours: int
    hours_to_acceptance: float | None  # None: not accepted yet
    staff_alerted: bool
    rating: int | None = None  # the enterprise's last rating (1–5), if it gave one

    @property
    def within_promise(self) -> bool | None:
        """True when accepted within the promised time; None while not accepted."""
        if self.hours_to_acceptance is None:
            return None
        return self.hours_to_acceptance <= self.promised_hours


@dataclass
class Figures:
    """The figures of a period."""

    cases: list[CaseFigure]
    by_month_market: dict[str, Counter[str]] = field(default_factory=dict)
    by_month_incident: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def accepted(self) -> list[CaseFigure]:
        return [c for c in self.cases if c.hours_to_acceptance is not None]

    def acceptance_hours(self) -> tuple[float, float] | None:
        """Median and 90th percentile of the hours to first acceptance (None without accepted cases)."""
        hours = sorted(c.hours_to_acceptance for c in self.accepted if c.hours_to_acceptance is not None)
        if not hours:
            return None
        p90 = hours[min(len(hours) - 1, round(0.9 * (len(hours) - 1)))]
        return statistics.median(hours), p90

    def within_promise_share(self) -> float | None:
        """Share of accepted cases accepted within the promised time."""
        accepted = self.accepted
        return sum(1 for c in accepted if c.within_promise) / len(accepted) if accepted else None

    def satisfaction(self) -> tuple[float, int] | None:
        """Mean rating (1–5) and how many cases were rated (None without ratings)."""
        ratings = [c.rating for c in self.cases if c.rating is not None]
        return (statistics.fmean(ratings), len(ratings)) if ratings else None

    def lines(self) -> list[str]:
        """The figures as text, one line each."""
        out = [f"cases: {len(self.cases)} (accepted {len(self.accepted)}, staff alerted {self._staff()})"]
        if (hours := self.acceptance_hours()) is not None:
            out.append(f"time to first acceptance: median {hours[0]:.1f} h, 90th percentile {hours[1]:.1f} h")
        if (share := self.within_promise_share()) is not None:
            out.append(f"accepted within the promised time: {share:.0%} of {len(self.accepted)}")
        for month in sorted(self.by_month_market):
            markets = ", ".join(f"{k} {v}" for k, v in self.by_month_market[month].most_common())
            incidents = ", ".join(f"{k} {v}" for k, v in self.by_month_incident[month].most_common())
            out.append(f"{month}: by market {markets}; by incident {incidents}")
        if (rated := self.satisfaction()) is not None:
            mean, count = rated
            out.append(f"satisfaction: {mean:.1f} of 5 ({mean * 20:.0f} points of 100) from {count} rated cases")
        else:
            out.append("satisfaction: no ratings yet (asked on Telegram when a case is closed)")
        return out

    def _staff(self) -> int:
        return sum(1 for c in self.cases if c.staff_alerted)


def figures(session: Session, since: str | None = None) -> Figures:
    """The figures of every case opened in or after the month `since` (YYYY-MM; all when None)."""
    query = select(Case).order_by(Case.id)
    if since:
        query = query.where(Case.created_at >= datetime.strptime(since, "%Y-%m"))
    rows = [_figure(c) for c in session.scalars(query) if c.case_no]
    by_market: dict[str, Counter[str]] = defaultdict(Counter)
    by_incident: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        by_market[row.month][row.country] += 1
        by_incident[row.month][row.incident] += 1
    return Figures(rows, dict(by_market), dict(by_incident))


def _figure(case: Case) -> CaseFigure:
    taken = [e.at for e in case.events if e.kind in ACCEPTED_KINDS]
    ratings = [int(e.text) for e in case.events if e.kind == "rating" and e.text.isdigit()]
    hours = (min(taken) - case.created_at).total_seconds() / 3600 if taken else None
    assert case.case_no is not None
    return CaseFigure(
        case_no=case.case_no,
        month=case.created_at.strftime("%Y-%m"),
        country=case.country,
        ip_type=case.ip_type,
        incident=case.incident_type,
        urgent=case.urgent,
        status=case.status,
        promised_hours=case.promised_hours,
        hours_to_acceptance=None if hours is None else round(hours, 2),
        staff_alerted=any(e.kind == "staff_alerted" for e in case.events),
        rating=ratings[-1] if ratings else None,
    )


CSV_FIELDS = [
    "case_no",
    "month",
    "country",
    "ip_type",
    "incident",
    "urgent",
    "status",
    "promised_hours",
    "hours_to_acceptance",
    "within_promise",
    "staff_alerted",
    "rating",
]


def csv_rows(result: Figures) -> list[list[object]]:
    """The CSV export's rows, the header first: one row per case, no names or contacts."""
    rows: list[list[object]] = [list(CSV_FIELDS)]
    for c in result.cases:
        rows.append(
            [
                c.case_no,
                c.month,
                c.country,
                c.ip_type,
                c.incident,
                c.urgent,
                c.status,
                c.promised_hours,
                "" if c.hours_to_acceptance is None else c.hours_to_acceptance,
                "" if c.within_promise is None else c.within_promise,
                c.staff_alerted,
                "" if c.rating is None else c.rating,
            ]
        )
    return rows


def write_csv(result: Figures, path: Path) -> None:
    """One row per case (no names or contacts), for a spreadsheet."""
    with open_private(path, "w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(csv_rows(result))


def csv_text(result: Figures) -> str:
    """The same CSV as text (the console's download)."""
    out = io.StringIO()
    csv.writer(out).writerows(csv_rows(result))
    return out.getvalue()


def write_chart(result: Figures, path: Path) -> None:
    """Cases per month stacked by market, and the hours to first acceptance, as one PNG (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    months = sorted(result.by_month_market)
    markets = sorted({m for counts in result.by_month_market.values() for m in counts})
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    bottom = [0] * len(months)
    for market in markets:
        values = [result.by_month_market[m][market] for m in months]
        left.bar(months, values, bottom=bottom, label=market)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    left.set_title("Cases per month by market")
    left.set_ylabel("cases")
    if markets:
        left.legend(fontsize="small")
    hours = [c.hours_to_acceptance for c in result.accepted if c.hours_to_acceptance is not None]
    right.hist(hours or [0], bins=min(20, max(1, len(hours))))
    share = result.within_promise_share()
    right.set_title(
        "Hours to first acceptance" + (f" ({share:.0%} within the promised time)" if share is not None else "")
    )
    right.set_xlabel("hours")
    fig.tight_layout()
    private = path.with_suffix(path.suffix + ".partial")
    fig.savefig(private, format="png", dpi=100)
    plt.close(fig)
    private.replace(path)


# The console's charts (bot/console): name → title. Each is drawn on its own as SVG.
CHARTS = {
    "market": "Cases per month by market",
    "incident": "Cases per month by incident",
    "acceptance": "Hours to first acceptance",
    "promise": "Accepted within the promised time, per month",
    "satisfaction": "Satisfaction (ratings 1–5)",
}


def _stacked(ax: Any, by_month: dict[str, Counter[str]]) -> None:
    months = sorted(by_month)
    keys = sorted({k for counts in by_month.values() for k in counts})
    bottom = [0] * len(months)
    for key in keys:
        values = [by_month[m][key] for m in months]
        ax.bar(months, values, bottom=bottom, label=key)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("cases")
    if keys:
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no cases", ha="center", va="center", transform=ax.transAxes)


def svg_chart(result: Figures, name: str) -> str:
    """One of CHARTS as an SVG document (matplotlib, no pyplot: safe in a server's threads)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6.4, 3.4))
    ax = fig.subplots()
    if name != "promise":
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of cases
    if name == "market":
        _stacked(ax, result.by_month_market)
    elif name == "incident":
        _stacked(ax, result.by_month_incident)
    elif name == "acceptance":
        hours = [c.hours_to_acceptance for c in result.accepted if c.hours_to_acceptance is not None]
        ax.hist(hours or [0], bins=min(20, max(1, len(hours))))
        if (summary := result.acceptance_hours()) is not None:
            ax.axvline(summary[0], color="black", linestyle="--", label=f"median {summary[0]:.1f} h")
            ax.legend(fontsize="small")
        ax.set_xlabel("hours")
        ax.set_ylabel("cases")
    elif name == "promise":
        months = sorted(result.by_month_market)
        shares = []
        for month in months:
            accepted = [c for c in result.accepted if c.month == month]
            shares.append(100 * sum(1 for c in accepted if c.within_promise) / len(accepted) if accepted else 0)
        ax.bar(months, shares)
        ax.set_ylim(0, 100)
        ax.set_ylabel("% of accepted cases")
    elif name == "satisfaction":
        ratings = Counter(c.rating for c in result.cases if c.rating is not None)
        ax.bar([str(n) for n in range(1, 6)], [ratings.get(n, 0) for n in range(1, 6)])
        ax.set_xlabel("rating")
        ax.set_ylabel("cases")
        if (rated := result.satisfaction()) is not None:
            ax.set_title(f"mean {rated[0]:.1f} of 5 ({rated[0] * 20:.0f} points), {rated[1]} rated", fontsize="small")
    else:
        raise ValueError(f"unknown chart {name!r}")
    if name != "satisfaction":
        ax.set_title(CHARTS[name], fontsize="medium")
    fig.tight_layout()
    out = io.StringIO()
    fig.savefig(out, format="svg")
    return out.getvalue()
