"""Exploring the lake from a notebook: DuckDB views over the parquet, and the analyses as pandas DataFrames.

The notebooks in `notebooks/` are thin shells over this module. A `Lake` is a DuckDB connection with
two views, `sales` (curated, hive-partitioned by year/month) and `quarantine` (by reason), typed like
the Glue catalog's tables. Open it from a lake folder or URI (no server needed), or through the Glue
catalog as `ecomflow sql` does:

    lake = open_lake(".state/demo/lake")          # or open_lake("s3://bucket/lake"), open_catalog("ecomflow")
    monthly_revenue(lake)                          # one row per month
    rfm = score_rfm(rfm_inputs(lake))              # R, F, M quintile scores and a named segment

The business questions that Athena also answers (monthly revenue, revenue by country, top products,
cancellation rate, RFM inputs) run the same named Athena SQL files (`ecomflow/sql/athena/*.sql`), so a
notebook and an Athena query never disagree. Money comes back as float64 for charting; the exact
decimals stay in the lake.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import duckdb
import pandas as pd

from ecomflow import contract
from ecomflow.errors import InputError
from ecomflow.local.athena_local import DEFAULT_DATABASE, LocalAthena, load_query, to_duckdb
from ecomflow.local.home import state_root
from ecomflow.stores import catalog

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.container import BarContainer

# The lake `make demo` writes (and its run report beside it); ECOMFLOW_DEMO_LAKE moves the default.
DEMO_LAKE = Path(os.environ.get("ECOMFLOW_DEMO_LAKE") or state_root() / "demo" / "lake")
DEMO_REPORT_NAME = "report.json"

ACCOUNTING_ROWS = ("rows_read", "rows_curated", "rows_quarantined", "duplicates_dropped", "unaccounted")

# RFM segments on the R (rows, 5 = most recent) x F (columns, 5 = most frequent) score grid.
SEGMENT_GRID: dict[int, tuple[str, str, str, str, str]] = {
    5: ("New customers", "Potential loyalists", "Potential loyalists", "Champions", "Champions"),
    4: ("Promising", "Potential loyalists", "Potential loyalists", "Loyal", "Loyal"),
    3: ("About to sleep", "About to sleep", "Need attention", "Loyal", "Loyal"),
    2: ("Hibernating", "Hibernating", "At risk", "At risk", "Can't lose"),
    1: ("Lost", "Lost", "At risk", "At risk", "Can't lose"),
}
SEGMENTS: tuple[str, ...] = (
    "Champions", "Loyal", "Potential loyalists", "New customers", "Promising", "Need attention",
    "About to sleep", "At risk", "Can't lose", "Hibernating", "Lost",
)
SCORES = 5  # quintiles

_EMPTY_QUARANTINE = ("CREATE OR REPLACE VIEW quarantine AS SELECT CAST(NULL AS VARCHAR) AS quarantine_id, "
                     "CAST(NULL AS VARCHAR) AS raw_line, CAST(NULL AS VARCHAR) AS reason, "
                     "CAST(NULL AS VARCHAR) AS source, CAST(NULL AS TIMESTAMP) AS ingested_at WHERE false")


@dataclass
class Lake:
    """A DuckDB connection with the views `sales` and `quarantine` over one lake."""

    connection: duckdb.DuckDBPyConnection
    location: str  # the lake folder/URI, or `glue:<database>` when opened through the catalog
    database: str = DEFAULT_DATABASE  # the DuckDB schema holding the catalog-named tables

    def sql(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run DuckDB SQL over the views `sales` and `quarantine`."""
        return self.connection.execute(sql, params or []).df()

    def athena(self, athena_sql: str) -> pd.DataFrame:
        """Run Athena (Trino) SQL written against `ecomflow.sales` (rewritten as `ecomflow sql` does)."""
        return self.connection.execute(to_duckdb(athena_sql, self.database)).df()

    def query(self, name: str) -> pd.DataFrame:
        """Run the named Athena query `ecomflow/sql/athena/<name>.sql`."""
        return self.athena(load_query(name))


def _lake_uri(lake: str | os.PathLike[str] | None) -> str:
    if lake is None:
        lake = DEMO_LAKE
    text = os.fspath(lake).rstrip("/")
    if "://" in text and not text.startswith("file://"):
        return text
    path = Path(text[len("file://"):] if text.startswith("file://") else text).expanduser().resolve()
    if not (path / contract.CURATED_ZONE).is_dir():
        raise InputError(f"no lake at {path} (no {contract.CURATED_ZONE} folder): run `make demo`, or "
                         f"`ecomflow batch --input FILE --lake {path}`, or pass the lake's location")
    return str(path)


def lake_athena(lake: str | os.PathLike[str] | None = None) -> LocalAthena:
    """The lake's tables as `ecomflow sql --lake` reads them: DuckDB views named like the catalog's.

    Raises:
        InputError: a local lake folder without `curated/sales`.
    """
    uri = _lake_uri(lake)
    athena = LocalAthena(DEFAULT_DATABASE)
    for spec in catalog.lake_tables(uri):
        athena.add_table(catalog.table_input(spec))
    return athena


def lake_location(lake: str | os.PathLike[str] | None = None) -> str:
    """The lake's location as the readers resolve it (a local folder's absolute path, or its URI)."""
    return _lake_uri(lake)


def open_lake(lake: str | os.PathLike[str] | None = None) -> Lake:
    """Open a lake from its folder or URI (`/path`, `file:///path`, `s3://bucket/prefix`).

    The views are the catalog's table definitions (`ecomflow.stores.catalog.lake_tables`) read straight
    from the lake, so no Glue catalog or server is needed. An empty zone is an empty view.

    Args:
        lake: the lake location; None for the demo lake (`DEMO_LAKE`).

    Raises:
        InputError: a local lake folder without `curated/sales`.
    """
    uri = _lake_uri(lake)
    athena = lake_athena(uri)
    return _with_short_views(Lake(athena.connection, uri, DEFAULT_DATABASE), athena.tables)


def open_catalog(database: str = DEFAULT_DATABASE, glue: Any = None) -> Lake:
    """Open the lake through the Glue catalog's tables, as `ecomflow sql` does.

    Args:
        database: the Glue database the batch job registered (`--catalog_database`).
        glue: a boto3 Glue client; by default one from `ecomflow.aws`, pointed at the running local
            stack when `AWS_ENDPOINT_URL` is not set.

    Raises:
        InputError: the database does not exist or has no `sales` table.
    """
    if glue is None:
        from ecomflow import aws
        from ecomflow.local import localstack
        if not os.environ.get("AWS_ENDPOINT_URL"):
            endpoints = localstack.read_endpoints(localstack.StackSettings.from_env().state_dir)
            if endpoints is not None:
                localstack.apply_environment(endpoints)
        glue = aws.client("glue")
    athena = LocalAthena.from_catalog(glue, database)
    if contract.CURATED_TABLE not in athena.tables:
        raise InputError(f"the Glue database {database!r} has no {contract.CURATED_TABLE!r} table")
    return _with_short_views(Lake(athena.connection, f"glue:{database}", database), athena.tables)


def _with_short_views(lake: Lake, tables: list[str]) -> Lake:
    schema = f'"{lake.database}"'
    lake.connection.execute(f"CREATE OR REPLACE VIEW sales AS SELECT * FROM {schema}.{contract.CURATED_TABLE}")
    if contract.QUARANTINE_TABLE in tables:
        lake.connection.execute(
            f"CREATE OR REPLACE VIEW quarantine AS SELECT * FROM {schema}.{contract.QUARANTINE_TABLE}")
    else:
        lake.connection.execute(_EMPTY_QUARANTINE)
    return lake


# --- the lake's runs -------------------------------------------------------------------------------

REPORT_FILE = "report.json"  # as app.batch_job.REPORT_FILE: <lake>/_reports/<run_id>/report.json


def _local_folder(location: str) -> Path | None:
    text = location[len("file://"):] if location.startswith("file://") else location
    return None if "://" in text else Path(text)


def run_reports(lake: str | os.PathLike[str] | None = None) -> list[Path]:
    """The run reports a local lake keeps (`<lake>/_reports/<run_id>/report.json`), oldest run first.

    Run ids sort by their start time. A lake on S3 is not listed here (an empty list).
    """
    folder = _local_folder(_lake_uri(lake))
    if folder is None:
        return []
    return sorted((folder / contract.REPORTS_ZONE).glob(f"*/{REPORT_FILE}"), key=lambda p: p.parent.name)


def latest_report(lake: str | os.PathLike[str] | None = None, published_only: bool = True) -> Path | None:
    """The report of the lake's latest (published) run, found in the lake itself; None without one."""
    for path in reversed(run_reports(lake)):
        if not published_only or load_report(path).get("published"):
            return path
    return None


def describe_lake(lake: str | os.PathLike[str] | None = None) -> str:
    """One line saying which lake a reader reads: its location, partitions per table, its latest run."""
    location = _lake_uri(lake)
    folder = _local_folder(location)
    if folder is None:
        return f"lake {location}"
    counts = []
    for spec in catalog.lake_tables(str(folder)):
        base = Path(spec.location)
        pattern = "/".join(["*"] * max(len(spec.partition_keys), 1))
        parts = [d for d in base.glob(pattern) if d.is_dir() and any(d.glob("*.parquet"))]
        counts.append(f"{spec.name} {len(parts)} partition{'s' if len(parts) != 1 else ''}")
    latest = latest_report(location)
    run = f"; latest run {latest.parent.name}" if latest is not None else "; no run report in it"
    return f"lake {folder} ({', '.join(counts)}{run})"


# --- row accounting and quarantine -----------------------------------------------------------------

def load_report(report: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """A run report (`ecomflow batch --report FILE`) as a dict; a mapping is returned as a dict."""
    if isinstance(report, Mapping):
        return dict(report)
    path = Path(report)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no run report at {path}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"run report {path} is not JSON: {exc}") from None


def default_report(lake: str | os.PathLike[str] | None) -> Path | None:
    """The run report of the lake's latest published run, found in the lake (`latest_report`).

    For the demo lake (`lake` None) without one, the demo's `report.json` beside it, if it exists.
    """
    try:
        found = latest_report(lake)
    except InputError:
        found = None
    if found is not None or lake is not None:
        return found
    path = DEMO_LAKE.parent / DEMO_REPORT_NAME
    return path if path.is_file() else None


def row_accounting(lake: Lake, report: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Raw vs curated vs quarantined vs duplicates, from the run report and from the lake.

    Rows are `ACCOUNTING_ROWS`; `unaccounted` is read - curated - quarantined - duplicates, which is 0
    when nothing was silently dropped. The `lake` column counts what the lake holds now (every run
    merged in); the lake keeps no duplicates and no raw count, so those cells are missing (<NA>).
    The `report` column is there only when a report is given.
    """
    counts = lake.sql("SELECT (SELECT COUNT(*) FROM sales) AS curated, (SELECT COUNT(*) FROM quarantine) AS q")
    columns: dict[str, list[int | None]] = {}
    if report is not None:
        doc = load_report(report)
        read, curated = int(doc["rows_read"]), int(doc["rows_curated"])
        quarantined, duplicates = int(doc["rows_quarantined"]), int(doc["duplicates_dropped"])
        columns["report"] = [read, curated, quarantined, duplicates, read - curated - quarantined - duplicates]
    columns["lake"] = [None, int(counts.at[0, "curated"]), int(counts.at[0, "q"]), None, None]
    frame = pd.DataFrame(columns, index=pd.Index(ACCOUNTING_ROWS, name="rows"))
    return frame.astype("Int64")


def quarantine_reasons(lake: Lake) -> pd.DataFrame:
    """Quarantined rows by reason code: rows, share of all quarantined rows, one example raw line."""
    return lake.sql("""
        SELECT reason,
               COUNT(*) AS rows,
               CAST(COUNT(*) AS DOUBLE) / SUM(COUNT(*)) OVER () AS share,
               MIN(raw_line) AS example
        FROM quarantine
        GROUP BY reason
        ORDER BY rows DESC, reason
    """)


def quarantine_examples(lake: Lake, reason: str | None = None, limit: int = 5) -> pd.DataFrame:
    """Up to `limit` quarantined raw lines (of one reason, or of any), in raw-line order."""
    where, params = ("WHERE reason = ?", [reason]) if reason is not None else ("", [])
    return lake.sql(f"SELECT reason, raw_line FROM quarantine {where} ORDER BY reason, raw_line LIMIT ?",
                    [*params, int(limit)])


def duplicate_record_ids(lake: Lake) -> int:
    """How many record_ids occur on more than one curated row (0: the lake holds each line once)."""
    frame = lake.sql("SELECT COUNT(*) AS n FROM (SELECT record_id FROM sales GROUP BY record_id HAVING COUNT(*) > 1)")
    return int(frame.at[0, "n"])


def line_types(lake: Lake) -> pd.DataFrame:
    """Curated rows and net revenue by line type (sale, cancellation, service, ...), largest first."""
    return lake.sql("""
        SELECT line_type, COUNT(*) AS rows, CAST(SUM(revenue) AS DOUBLE) AS revenue
        FROM sales GROUP BY line_type ORDER BY rows DESC, line_type
    """)


# --- the Athena questions ----------------------------------------------------------------------------

def _with_period(frame: pd.DataFrame) -> pd.DataFrame:
    """Add `period` ("YYYY-MM", a chart label) after year and month."""
    period = [f"{int(y):04d}-{int(m):02d}" for y, m in zip(frame["year"], frame["month"], strict=True)]
    frame.insert(2, "period", pd.Series(period, index=frame.index, dtype="object"))
    return frame


def monthly_revenue(lake: Lake) -> pd.DataFrame:
    """Per month: sale invoices, customers, gross sales, cancelled and net revenue (`monthly_revenue.sql`)."""
    return _with_period(lake.query("monthly_revenue"))


def revenue_by_country(lake: Lake) -> pd.DataFrame:
    """Per country: customers, sale invoices, net revenue and share of it (`revenue_by_country.sql`)."""
    return lake.query("revenue_by_country")


def top_products(lake: Lake) -> pd.DataFrame:
    """The 10 products with the most sales revenue (`top_products.sql`)."""
    return lake.query("top_products")


def cancellation_rate(lake: Lake) -> pd.DataFrame:
    """Per month: cancelled / (sale + cancelled) invoices and the value cancelled (`cancellation_rate.sql`)."""
    return _with_period(lake.query("cancellation_rate"))


# --- customers: RFM and cohorts -----------------------------------------------------------------------

def rfm_inputs(lake: Lake) -> pd.DataFrame:
    """Per customer with a sale: recency_days, frequency and monetary (`rfm_inputs.sql`)."""
    return lake.query("rfm_inputs")


def quintile_score(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """Scores 1..5 by percentile rank: ceil(5 * rank / n), tied values sharing their average rank.

    With n distinct values the best fifth scores 5 and the worst fifth 1; equal values always get
    the same score (so a score can be skipped when many customers tie, as on frequency 1).
    """
    if values.empty:
        return pd.Series([], index=values.index, dtype="int64")
    ranks = (values if higher_is_better else -values).rank(method="average")
    doubled = (ranks * 2).round().astype("int64")  # average ranks are multiples of 1/2: exact integers
    n2 = 2 * len(values)
    return ((SCORES * doubled + n2 - 1) // n2).clip(1, SCORES).astype("int64")


def segment(r_score: int, f_score: int) -> str:
    """The named segment of an R and F score (`SEGMENT_GRID`)."""
    return SEGMENT_GRID[int(r_score)][int(f_score) - 1]


def score_rfm(inputs: pd.DataFrame) -> pd.DataFrame:
    """R, F and M quintile scores and the segment of every customer.

    Args:
        inputs: customer_id, recency_days, frequency, monetary (as `rfm_inputs` returns them).

    Returns:
        The inputs plus r_score (5 = most recent), f_score (5 = most invoices), m_score (5 = most
        revenue), rfm (e.g. "545") and segment (from R and F, `SEGMENT_GRID`), by customer_id.
    """
    scored = inputs.sort_values("customer_id").reset_index(drop=True)
    scored["r_score"] = quintile_score(scored["recency_days"].astype("float64"), higher_is_better=False)
    scored["f_score"] = quintile_score(scored["frequency"].astype("float64"))
    scored["m_score"] = quintile_score(scored["monetary"].astype("float64"))
    scored["rfm"] = (scored["r_score"].astype(str) + scored["f_score"].astype(str)
                     + scored["m_score"].astype(str))
    scored["segment"] = pd.Categorical(
        [segment(r, f) for r, f in zip(scored["r_score"], scored["f_score"], strict=True)], categories=SEGMENTS)
    return scored


def rfm(lake: Lake) -> pd.DataFrame:
    """`score_rfm` of the lake's customers."""
    return score_rfm(rfm_inputs(lake))


def segment_summary(scored: pd.DataFrame) -> pd.DataFrame:
    """Per segment (in `SEGMENTS` order, empty ones left out): customers, share, mean R/F, revenue."""
    grouped = scored.groupby("segment", observed=True)
    summary = pd.DataFrame({
        "customers": grouped["customer_id"].count(),
        "mean_recency_days": grouped["recency_days"].mean(),
        "mean_frequency": grouped["frequency"].mean(),
        "monetary": grouped["monetary"].sum(),
    })
    summary.insert(1, "share", summary["customers"] / summary["customers"].sum())
    summary.index = pd.Index([str(s) for s in summary.index], name="segment")
    return summary


def cohort_counts(lake: Lake) -> pd.DataFrame:
    """Active customers per first-purchase month (rows) and months since it (columns 0, 1, ...).

    A customer's cohort is the month of their first sale line; they are active in a month with a
    sale line. Cells beyond the lake's last month are missing (<NA>), not 0.
    """
    cells = lake.sql("""
        WITH purchases AS (
            SELECT DISTINCT customer_id, year * 12 + month - 1 AS month_index
            FROM sales WHERE line_type = 'sale' AND customer_id IS NOT NULL
        ),
        cohorts AS (SELECT customer_id, MIN(month_index) AS cohort FROM purchases GROUP BY customer_id)
        SELECT c.cohort, p.month_index - c.cohort AS months_since, COUNT(*) AS customers
        FROM purchases AS p JOIN cohorts AS c ON p.customer_id = c.customer_id
        GROUP BY c.cohort, months_since
    """)
    last = lake.sql("SELECT MAX(year * 12 + month - 1) AS m FROM sales").at[0, "m"]
    if cells.empty:
        return pd.DataFrame(index=pd.Index([], name="cohort"), columns=pd.Index([], name="months_since"))
    cohorts = sorted(int(c) for c in cells["cohort"].unique())
    width = int(last) - cohorts[0] + 1
    matrix = (cells.pivot(index="cohort", columns="months_since", values="customers")
              .reindex(index=cohorts, columns=range(width)).fillna(0).astype("Int64"))
    for cohort in cohorts:
        matrix.loc[cohort, [k for k in range(width) if cohort + k > last]] = pd.NA
    matrix.index = pd.Index([f"{c // 12:04d}-{c % 12 + 1:02d}" for c in cohorts], name="cohort")
    matrix.columns = pd.Index(range(width), name="months_since")
    return matrix


def cohort_retention(lake: Lake) -> pd.DataFrame:
    """`cohort_counts` as the share of each cohort still active (month 0 is 1.0); NaN beyond the data."""
    counts = cohort_counts(lake)
    if counts.empty:
        return counts.astype("float64")
    values = counts.astype("Float64").div(counts[0].astype("Float64"), axis=0)
    return values.astype("float64")


# --- charts (presentation only; matplotlib is imported when a chart is drawn) --------------------------

def plot_row_accounting(accounting: pd.DataFrame, ax: Axes | None = None, title: str = "Rows") -> Axes:
    """Horizontal bars of `row_accounting` (report and lake side by side), each labelled with its count."""
    import matplotlib.pyplot as plt

    shown = accounting.drop(index="unaccounted", errors="ignore")
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 1.0 + 0.45 * len(shown) * len(shown.columns)))
    shown.astype("float64").plot.barh(ax=ax, title=title)
    for bars, column in zip(ax.containers, shown.columns, strict=True):
        labels = ["" if pd.isna(v) else f" {int(v):,}" for v in shown[column]]
        ax.bar_label(cast("BarContainer", bars), labels=labels, fontsize=8)
    ax.invert_yaxis()
    ax.margins(x=0.2)
    return ax


def plot_retention(retention: pd.DataFrame, ax: Axes | None = None, title: str = "Monthly cohort retention") -> Axes:
    """A heatmap of `cohort_retention`: cohorts down, months since first purchase across, % in cells."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 + 0.6 * max(len(retention.columns), 1), 1.0 + 0.4 * max(len(retention), 1)))
    image = ax.imshow(retention.to_numpy(dtype="float64", na_value=math.nan), cmap="YlGnBu", vmin=0.0, vmax=1.0,
                      aspect="auto")
    ax.set_xticks(range(len(retention.columns)), [str(c) for c in retention.columns])
    ax.set_yticks(range(len(retention.index)), [str(i) for i in retention.index])
    ax.set_xlabel("months since first purchase")
    ax.set_ylabel("cohort (first purchase month)")
    ax.set_title(title)
    for row, values in enumerate(retention.itertuples(index=False)):
        for col, value in enumerate(values):
            if not math.isnan(value):
                ax.text(col, row, f"{value:.0%}", ha="center", va="center", fontsize=7,
                        color="white" if value > 0.6 else "black")
    ax.figure.colorbar(image, ax=ax, format=PercentFormatter(1.0))
    return ax
