"""A run's page: one static HTML file a person can open and share, beside the run in its lake.

`<lake>/_reports/<run_id>/index.html` holds the run report (rows read and where they went, revenue,
partitions), the quality gate's checks with their results, and the notebooks' charts of the lake
after the run (drawn by the same `explore.plot_*` functions, inlined as SVG). It needs no server,
no network and no script from elsewhere, so it opens from a disk, an e-mail or an S3 link alike.

    write_run_page("/tmp/lake")               # the latest run's page; returns its path
    write_run_page("/tmp/lake", "20261203T110618Z-7ac7e7a6")
"""

from __future__ import annotations

import html
import io
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ecomflow import contract
from ecomflow.analytics import explore
from ecomflow.errors import InputError

log = logging.getLogger(__name__)

PAGE_FILE = "index.html"

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #222; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5rem 0; } td, th { padding: .25rem .75rem; border-bottom: 1px solid #eee;
text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #1a7f37; } .fail { color: #cf222e; font-weight: 600; }
.status { display: inline-block; padding: .2rem .6rem; border-radius: .3rem; color: #fff; }
.status.pass { background: #1a7f37; color: #fff; } .status.fail { background: #cf222e; color: #fff; }
figure { margin: 1.5rem 0; } figure svg { max-width: 100%; height: auto; }
.muted { color: #666; font-size: .9rem; }
"""


def page_path(lake: str | os.PathLike[str], run_id: str) -> Path:
    """Where a local lake keeps a run's page."""
    return Path(explore.lake_location(lake)) / contract.REPORTS_ZONE / run_id / PAGE_FILE


def _report_for(lake: str | os.PathLike[str], run_id: str | None) -> dict[str, Any]:
    if run_id is None:
        found = explore.latest_report(lake, published_only=False)
        if found is None:
            raise InputError(f"no run report in {explore.lake_location(lake)}/{contract.REPORTS_ZONE}: run "
                             f"`ecomflow batch --input FILE --lake {lake}` first")
        return explore.load_report(found)
    path = Path(explore.lake_location(lake)) / contract.REPORTS_ZONE / run_id / explore.REPORT_FILE
    if not path.is_file():
        runs = [p.parent.name for p in explore.run_reports(lake)]
        raise InputError(f"no run {run_id} in {explore.lake_location(lake)}; its runs are: {', '.join(runs) or 'none'}")
    return explore.load_report(path)


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # without the XML prolog and DOCTYPE, as HTML inlines it


def chart_figures(db: explore.Lake) -> list[tuple[str, Callable[[], Any]]]:
    """The notebooks' charts of the lake, as (title, draw) pairs."""
    coverage = explore.month_coverage(db)
    return [
        ("Revenue by month", lambda: explore.plot_monthly_revenue(explore.monthly_revenue(db), coverage)),
        ("Revenue by country", lambda: explore.plot_country_share(explore.revenue_by_country(db))),
        ("Top products", lambda: explore.plot_top_products(explore.top_products(db))),
        ("Cancellations", lambda: explore.plot_cancellations(explore.cancellation_rate(db), coverage)),
        ("Quarantine", lambda: explore.plot_quarantine_reasons(explore.quarantine_reasons(db))),
        ("Customer segments", lambda: explore.plot_segments(explore.segment_summary(explore.rfm(db)))),
        ("Cohort retention", lambda: explore.plot_cohort_retention(explore.cohort_counts(db))),
    ]


def _rows(pairs: list[tuple[str, str]], numeric: bool = True) -> str:
    cls = ' class="n"' if numeric else ""
    return "".join(f"<tr><th>{html.escape(k)}</th><td{cls}>{html.escape(v)}</td></tr>" for k, v in pairs)


def checks_table(quality: Mapping[str, Any]) -> str:
    """The gate's checks, each passed or failed (a failed one with its reason)."""
    failed = [str(f) for f in quality.get("failed") or []]
    checks = [str(c) for c in quality.get("checks") or []]
    rows = []
    for check in checks:
        reasons = [f for f in failed if f == check or f.startswith(f"{check}:") or f.startswith(f"{check}(")]
        status = ('<td class="fail">failed</td>' if reasons else '<td class="pass">passed</td>')
        detail = html.escape("; ".join(r for r in reasons if r != check))
        rows.append(f"<tr><td>{html.escape(check)}</td>{status}<td>{detail}</td></tr>")
    listed = {r for c in checks for r in failed if r == c or r.startswith((f"{c}:", f"{c}("))}
    for other in [f for f in failed if f not in listed]:
        rows.append(f'<tr><td>{html.escape(other)}</td><td class="fail">failed</td><td></td></tr>')
    if not rows:
        return ('<p class="muted">The gate did not run (--quality_gate off).</p>' if not quality else
                '<p class="muted">This report does not list the checks one by one (written before they were '
                'kept).</p>')
    return ("<table><thead><tr><th>check</th><th>result</th><th>detail</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def pounds(amount: object) -> str:
    """`£9,726,006.95` (exact: the report's decimal text, two places)."""
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(str(amount if amount is not None else 0))
    except InvalidOperation:
        return str(amount)
    return f"-£{abs(value):,.2f}" if value < 0 else f"£{value:,.2f}"


def render_page(report: Mapping[str, Any], charts: list[tuple[str, str]]) -> str:
    """The page's HTML from a run report and the charts' SVG (title, svg text)."""
    e = html.escape
    run_id, published = str(report.get("run_id", "")), bool(report.get("published"))
    quality = report.get("quality") or {}
    read, curated = int(report.get("rows_read", 0)), int(report.get("rows_curated", 0))
    quarantined, duplicates = int(report.get("rows_quarantined", 0)), int(report.get("duplicates_dropped", 0))
    partitions = list(report.get("partitions_written") or [])
    status = ('<span class="status pass">published</span>' if published
              else '<span class="status fail">not published: stopped by the quality gate</span>')
    numbers = _rows([
        ("rows read", f"{read:,}"), ("curated", f"{curated:,}"), ("quarantined", f"{quarantined:,}"),
        ("duplicates dropped", f"{duplicates:,}"),
        ("unaccounted (read - curated - quarantined - duplicates)", f"{read - curated - quarantined - duplicates:,}"),
        ("curated revenue (net)", pounds(report.get("revenue_curated"))),
        ("curated partitions written", f"{len(partitions):,}"),
        ("quarantine partitions written", f"{len(report.get('quarantine_partitions_written') or []):,}"),
        ("earliest invoice", str(report.get("invoice_ts_min") or "")),
        ("latest invoice", str(report.get("invoice_ts_max") or "")),
    ])
    reasons = _rows([(k, f"{int(v):,}") for k, v in (report.get("quarantined_by_reason") or {}).items()]) \
        or '<tr><td class="muted">nothing quarantined</td></tr>'
    types = _rows([(k, f"{int(v):,}") for k, v in (report.get("line_types") or {}).items()])
    gate = ("passed" if quality.get("success") else "failed") if quality else "off"
    gate_line = (f"{int(quality.get('evaluated') or 0):,} checks, {len(quality.get('failed') or []):,} failed, "
                 f"in {float(quality.get('seconds') or 0):.1f} s (suite {e(str(quality.get('suite', '')))})"
                 if quality else "not run")
    figures = "".join(f'<figure id="chart-{i}"><figcaption class="muted">{e(title)}</figcaption>{svg}</figure>'
                      for i, (title, svg) in enumerate(charts))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>EcomFlow run {e(run_id)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>EcomFlow batch run <code>{e(run_id)}</code> {status}</h1>
<p class="muted">input <code>{e(str(report.get("input", "")))}</code> &rarr;
lake <code>{e(str(report.get("lake", "")))}</code></p>
<h2>The run in numbers</h2>
<table id="numbers">{numbers}</table>
<p class="muted">Nothing is silently dropped: rows read = curated + quarantined + duplicates dropped. Net revenue is
every curated line: sales and service charges, less cancellations, plus or minus adjustments.</p>
<h2>Quarantined by reason</h2>
<table id="reasons">{reasons}</table>
<h2>Curated lines by type</h2>
<table id="line-types">{types}</table>
<h2>Quality gate: <span class="{"pass" if gate == "passed" else "fail"}">{gate}</span></h2>
<p>{gate_line}</p>
<div id="checks">{checks_table(quality)}</div>
<h2>The lake after the run</h2>
<p class="muted">The charts of notebooks/01 and 02, drawn from the lake when this page was written; each says under
it how to read it.</p>
{figures}
<h2>The run report (JSON)</h2>
<pre id="report-json">{e(json.dumps(dict(report), indent=2))}</pre>
<script>document.body.dataset.ready = "yes";</script>
</body>
</html>
"""


def _draw_charts(lake: str | os.PathLike[str]) -> list[tuple[str, str]]:
    import duckdb
    import matplotlib

    matplotlib.use("Agg", force=False)
    try:
        db = explore.open_lake(lake)
    except duckdb.Error as exc:  # e.g. an S3 lake where DuckDB has no httpfs extension
        log.warning("no charts: the lake cannot be read here (%s)", exc)
        return []
    drawn = []
    for title, draw in chart_figures(db):
        try:
            drawn.append((title, _svg(draw())))
        except (ValueError, KeyError, IndexError, TypeError, duckdb.Error) as exc:  # e.g. an empty lake
            log.warning("chart %r not drawn: %s", title, exc)
    return drawn


def _s3_parts(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    return bucket, prefix.strip("/")


def _s3_report(s3: Any, uri: str, run_id: str | None) -> dict[str, Any]:
    bucket, prefix = _s3_parts(uri)
    base = f"{prefix}/{contract.REPORTS_ZONE}/" if prefix else f"{contract.REPORTS_ZONE}/"
    if run_id is None:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base)
        keys = sorted(o["Key"] for page in pages for o in page.get("Contents", [])
                      if o["Key"].endswith(f"/{explore.REPORT_FILE}"))
        if not keys:
            raise InputError(f"no run report under {uri}/{contract.REPORTS_ZONE}")
        key = keys[-1]
    else:
        key = f"{base}{run_id}/{explore.REPORT_FILE}"
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise InputError(f"no run report at s3://{bucket}/{key}") from None
    return dict(json.loads(body))


def write_run_page(lake: str | os.PathLike[str], run_id: str | None = None, out: str | os.PathLike[str] | None = None,
                   charts: bool = True) -> Path | str:
    """Write the page of a run (the latest by default) beside it in the lake, or to `out`; returns where.

    A lake on S3 (`s3://bucket/prefix`) gets its page as `s3://.../_reports/<run_id>/index.html` (boto3;
    the charts need DuckDB to read S3, else the page has the report and the checks only).

    Raises:
        InputError: no lake there, or no such run report in it.
    """
    location = explore.lake_location(lake)
    if location.startswith("s3://"):
        from ecomflow import aws

        s3 = aws.client("s3")
        report = _s3_report(s3, location, run_id)
        page = render_page(report, _draw_charts(location) if charts else [])
        if out is not None:
            Path(out).write_text(page, encoding="utf-8")
            return Path(out)
        bucket, prefix = _s3_parts(location)
        key = "/".join(p for p in (prefix, contract.REPORTS_ZONE, str(report["run_id"]), PAGE_FILE) if p)
        s3.put_object(Bucket=bucket, Key=key, Body=page.encode("utf-8"), ContentType="text/html; charset=utf-8")
        return f"s3://{bucket}/{key}"
    report = _report_for(lake, run_id)
    drawn = _draw_charts(lake) if charts else []
    target = Path(out) if out is not None else page_path(lake, str(report["run_id"]))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_page(report, drawn), encoding="utf-8")
    return target
