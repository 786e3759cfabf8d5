"""Statistiques: calls per day and branch, outcomes, where callers hang up or fail, busy hours.

Charts are SVG drawn on the server (ivr.admin.charts) with a table of the same numbers beside
each; the CSV export gives one row per call for a spreadsheet. Both read ivr.stats, over whole
local days chosen with ``du``/``au`` (the last 30 days by default).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from typing import Any

from flask import Response, current_app, render_template, request, url_for

from ivr import clock
from ivr.admin import bp
from ivr.admin.charts import Column, Series, hbars, heatmap, series_class, stacked_bars
from ivr.lines import current_config
from ivr.schedule import DAY_NAMES, TZ
from ivr.services import services
from ivr.stats import (
    FAILURE_KINDS,
    FAILURE_LABELS,
    MAX_DAYS,
    MONTH_ABBR,
    Period,
    Summary,
    branch_order,
    calls_in,
    destination_label,
    french_date,
    hour_range,
    language_label,
    node_title,
    outcome_label,
    parse_period,
    percent,
    summarize,
)
from ivr.store import Store

CSV_HEADERS = ("Date", "Heure", "Jour", "Branche", "Résultat", "Dernière étape", "Destination",
               "Durée (secondes)", "Langue")
# Excel set to French (Québec) splits a CSV on ";" (the comma is the decimal separator);
# the BOM makes it read UTF-8, so accents come out right.
CSV_DELIMITER = ";"
BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
DAILY_BARS_MAX = 62  # longer periods get one bar per week


def _store() -> Store:
    return services(current_app).store


def _today() -> dt.date:
    return clock.now().astimezone(TZ).date()


def _period() -> tuple[Period, list[str]]:
    return parse_period(request.args.get("du"), request.args.get("au"), _today())


def _daily_chart(config: Any, summary: Summary, branches: list[str | None]) -> Any:
    """Bars per day, or per week when the period is too long for a readable bar per day."""
    series = [Series(b, node_title(config, b), series_class(i)) for i, b in enumerate(branches)]
    period = summary.period
    weekly = len(period.days) > DAILY_BARS_MAX
    groups: dict[dt.date, Counter[str | None]] = {}
    for day in period.days:
        key = day - dt.timedelta(days=day.weekday()) if weekly else day
        groups.setdefault(key, Counter()).update(summary.by_day[day])
    columns = []
    previous_month = 0
    for key, counts in groups.items():
        first = max(key, period.first)
        sub = MONTH_ABBR[first.month - 1] if first.month != previous_month else ""
        previous_month = first.month
        label = f"semaine du {french_date(key)}" if weekly else french_date(key)
        columns.append(Column(str(first.day), label, counts, sub))
    unit = "semaine" if weekly else "jour"
    return stacked_bars(
        columns, series, chart_id="graphique-jours",
        title=f"Appels par {unit} et par branche",
        desc=f"Du {french_date(period.first)} au {french_date(period.last)} : "
             f"{summary.total} appels, une barre par {unit}. "
             "Le tableau qui suit donne les nombres par jour.")


def _quick_periods(today: dt.date) -> list[tuple[str, str, str]]:
    """(label, du, au) for the usual periods."""
    month_start = today.replace(day=1)
    previous_end = month_start - dt.timedelta(days=1)
    return [
        ("Aujourd'hui", today.isoformat(), today.isoformat()),
        ("7 derniers jours", (today - dt.timedelta(days=6)).isoformat(), today.isoformat()),
        ("30 derniers jours", (today - dt.timedelta(days=29)).isoformat(), today.isoformat()),
        ("Ce mois-ci", month_start.isoformat(), today.isoformat()),
        ("Mois précédent", previous_end.replace(day=1).isoformat(), previous_end.isoformat()),
    ]


@bp.get("/statistiques")
def stats() -> str:
    """Charts and tables over the chosen period."""
    config = current_config()
    period, errors = _period()
    summary = summarize(_store(), period)
    branches = branch_order(config, summary.by_branch)
    by_branch, by_outcome = summary.by_branch, summary.by_outcome
    total = summary.total
    outcomes = [(o, outcome_label(o), by_outcome[o]) for o in summary.outcomes]
    hangups = [(node_title(config, n, "Aucune étape"), c) for n, c in summary.hangups]
    failures: dict[str | None, dict[str, int]] = {}
    for node, kind, events, _calls in summary.failures:
        failures.setdefault(node, dict.fromkeys(FAILURE_KINDS, 0))[kind] += events
    failure_rows = sorted(
        ((node_title(config, n, "Étape inconnue"), kinds, sum(kinds.values()))
         for n, kinds in failures.items()), key=lambda r: (-r[2], r[0]))
    busiest = summary.busiest()
    charts = {}
    if total:
        charts["days"] = _daily_chart(config, summary, branches)
        charts["outcomes"] = hbars(
            [(label, n) for _, label, n in outcomes], chart_id="graphique-resultats",
            title="Résultat des appels",
            desc="Nombre d'appels selon leur fin : répondu, message laissé, sans réponse, "
                 "information donnée, raccroché.", css="s1")
        if hangups:
            charts["hangups"] = hbars(
                hangups[:15], chart_id="graphique-raccrochages",
                title="Étapes où les appelants raccrochent",
                desc="Dernière étape des appels terminés par l'appelant, les plus fréquentes "
                     "d'abord.", css="s3")
        if failure_rows:
            charts["failures"] = hbars(
                [(title, n) for title, _, n in failure_rows[:15]], chart_id="graphique-echecs",
                title="Étapes où les appels échouent",
                desc="Trop d'essais manqués dans un menu, ou erreur technique, par étape.",
                css="s2")
        charts["hours"] = heatmap(
            summary.hours, [d.capitalize() for d in DAY_NAMES], chart_id="graphique-heures",
            title="Heures les plus achalandées",
            desc="Appels selon le jour de la semaine et l'heure de début (heure de Montréal). "
                 "Plus la case est foncée, plus il y a d'appels.")
    series = {b: series_class(i) for i, b in enumerate(branches)}
    return render_template(
        "admin/stats.html",
        period=period, errors=errors, total=total, max_days=MAX_DAYS,
        first_text=french_date(period.first), last_text=french_date(period.last),
        days=[(day, french_date(day), summary.by_day[day]) for day in period.days],
        weekly=len(period.days) > DAILY_BARS_MAX,
        branches=[(b, node_title(config, b), by_branch[b], series[b],
                   percent(by_branch[b], total)) for b in branches],
        outcomes=[(key, label, n, percent(n, total)) for key, label, n in outcomes],
        languages=[(lang, language_label(lang), summary.by_language[lang],
                    percent(summary.by_language[lang], total)) for lang in summary.languages],
        hangups=hangups, hangup_total=sum(n for _, n in hangups),
        failure_rows=failure_rows, failure_kinds=list(FAILURE_LABELS.items()),
        hours=summary.hours, day_names=[d.capitalize() for d in DAY_NAMES],
        hour_labels=[hour_range(h) for h in range(24)],
        busiest=(None if busiest is None else
                 (DAY_NAMES[busiest[0]], hour_range(busiest[1]), busiest[2])),
        charts=charts,
        quick=_quick_periods(_today()),
        csv_url=url_for("admin.stats_csv", du=period.first.isoformat(),
                        au=period.last.isoformat()),
    )


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula (titles come from editable YAML)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


@bp.get("/statistiques.csv")
def stats_csv() -> Response:
    """One row per call of the period, for a spreadsheet (UTF-8 with BOM, ";"-separated)."""
    config = current_config()
    period, _ = _period()
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, delimiter=CSV_DELIMITER, lineterminator="\r\n")
    writer.writerow(CSV_HEADERS)
    for row in calls_in(_store(), period):
        local = row.started_at
        writer.writerow([_cell(v) for v in (
            local.date().isoformat(), local.strftime("%H:%M:%S"), DAY_NAMES[local.weekday()],
            node_title(config, row.branch), outcome_label(row.outcome),
            node_title(config, row.last_node, ""), destination_label(config, row.destination),
            "" if row.duration is None else row.duration, language_label(row.language))])
    name = f"appels-{period.first.isoformat()}-au-{period.last.isoformat()}.csv"
    return Response(out.getvalue().encode("utf-8"), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
