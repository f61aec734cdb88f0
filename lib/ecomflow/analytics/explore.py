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
from ecomflow.local import iceberg
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

    Each view reads the committed snapshot of `main` its Iceberg catalog names (the local JDBC
    catalog on the local stack's PostgreSQL), as Athena reads the Glue table: never a listing of
    the lake's folders, which also hold unpublished branches and failed commits.

    Raises:
        InputError: a local lake folder without `curated/sales`, or one whose tables are plain
            parquet (an old lake: `ecomflow migrate` brings it into Iceberg).
    """
    uri = _lake_uri(lake)
    specs = catalog.lake_tables(uri)
    database = iceberg.lake_database(uri)
    if database is None and _parquet_folders(uri):
        raise InputError(f"the lake at {uri} has no Iceberg table {contract.CURATED_TABLE} in its catalog "
                         f"but parquet folders: a plain-parquet lake (`ecomflow migrate --lake {uri}` brings it in)")
    names = [spec.name for spec in specs]
    # No table yet (a lake no run has published to): empty tables, as Athena answers.
    locations = iceberg.metadata_locations(uri, database, names) if database else dict.fromkeys(names)
    athena = LocalAthena(DEFAULT_DATABASE)  # the name the SQL files are written against
    for spec in specs:
        athena.add_table(catalog.table_input(spec, locations[spec.name]))
    return athena


def _parquet_folders(lake_uri: str) -> list[Path]:
    """Hive partition folders of an old plain-parquet lake (`curated/sales/year=2011/...`), if any."""
    folder = _local_folder(lake_uri)
    return [] if folder is None else sorted((folder / contract.CURATED_ZONE).glob("year=*"))


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


def lake_partitions(lake: str | os.PathLike[str] | None, table: str) -> list[str]:
    """The partitions (`year=2011/month=1`) holding data in the committed snapshot of a lake table."""
    uri = _lake_uri(lake)
    database = iceberg.lake_database(uri)
    if database is None:
        return []
    found = set()
    for path in iceberg.committed_files(iceberg.load_table(iceberg.sql_catalog(uri), database, table)):
        found.add("/".join(part for part in path.split("/")[:-1] if "=" in part))
    return sorted(found)


def describe_lake(lake: str | os.PathLike[str] | None = None) -> str:
    """One line saying which lake a reader reads: its location, partitions per table, its latest run."""
    location = _lake_uri(lake)
    folder = _local_folder(location)
    if folder is None:
        return f"lake {location}"
    counts = []
    for spec in catalog.lake_tables(str(folder)):
        parts = len(lake_partitions(location, spec.name))
        counts.append(f"{spec.name} {parts} partition{'s' if parts != 1 else ''}")
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

def plot_row_accounting(accounting: pd.DataFrame, ax: Axes | None = None, title: str = "Where the rows went") -> Axes:
    """Horizontal bars of `row_accounting` (report and lake side by side), each labelled with its count."""
    import matplotlib.pyplot as plt

    shown = accounting.drop(index="unaccounted", errors="ignore")
    own = ax is None
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 1.6 + 0.45 * len(shown) * len(shown.columns)))
    shown.astype("float64").plot.barh(ax=ax, title=title)
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:,.0f}"))
    ax.set_xlabel("rows")
    ax.set_ylabel("accounting line")
    ax.set_xlim(left=0)
    if own:
        _caption(ax.figure, "rows read = curated + quarantined + duplicates dropped. report: the run; lake: what "
                            "the lake holds now (every run merged; it keeps neither raw counts nor duplicates).")
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


# --- charts an analyst can trust: money and shares formatted, axes from zero, partial months marked --------

CAPTION_WIDTH = 110  # characters per caption line under a chart
NET_MEANS = ("net = every curated line: sales and service charges (postage, fees), less cancellations, "
             "plus or minus adjustments (bad debt, manual corrections)")


def money(value: float, _position: object = None) -> str:
    """`£950`, `£12k`, `£1.2M`, `-£3.4k`: money on an axis or a label."""
    sign, amount = ("-" if value < 0 else ""), abs(float(value))
    if amount >= 1e6:
        text = f"{amount / 1e6:.1f}M".replace(".0M", "M")
    elif amount >= 1e3:
        text = f"{amount / 1e3:.1f}k".replace(".0k", "k") if amount < 1e4 else f"{amount / 1e3:.0f}k"
    else:
        text = f"{amount:.0f}"
    return f"{sign}£{text}"


def month_coverage(lake: Lake) -> pd.DataFrame:
    """Per month: the first and last invoice day in the data, the month's length, and whether it is partial.

    The data's first month is partial when it starts after the 1st, its last month when it ends before
    the month's last day (the real file's December 2011 has 9 days); months in between are whole.
    """
    frame = lake.sql("""
        SELECT year, month, MIN(day(invoice_ts)) AS first_day, MAX(day(invoice_ts)) AS last_day,
               day(last_day(MIN(invoice_ts))) AS days_in_month
        FROM sales GROUP BY year, month ORDER BY year, month
    """)
    frame = _with_period(frame)
    partial = [False] * len(frame)
    if len(frame):
        partial[0] = int(frame["first_day"].iloc[0]) > 1
        partial[-1] = partial[-1] or int(frame["last_day"].iloc[-1]) < int(frame["days_in_month"].iloc[-1])
    frame["partial"] = partial
    return frame


def _partial_label(row: pd.Series) -> str:
    return f"{row['period']} (days {int(row['first_day'])}-{int(row['last_day'])} of {int(row['days_in_month'])})"


def _caption(fig: Any, text: str) -> None:
    """A sentence under the chart saying how to read it (kept in `fig.texts`, drawn inside the figure)."""
    import textwrap
    import warnings

    with warnings.catch_warnings():  # a narrow figure with long labels keeps its layout; that is fine
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout()
    # Below the laid-out axes (their tick labels included); a tight bounding box, as notebooks and the run
    # page save figures, takes it in.
    fig.text(0.01, -0.01, "\n".join(textwrap.wrap(text, CAPTION_WIDTH)), ha="left", va="top", fontsize=8.5,
             color="#333333")


def _partial_marks(ax: Axes, periods: list[str], coverage: pd.DataFrame | None) -> list[str]:
    """Hatch the partial months' bars and label them; returns their descriptions for the caption."""
    if coverage is None:
        return []
    partial = coverage[coverage["partial"]]
    marked = []
    for _, row in partial.iterrows():
        if row["period"] in periods:
            index = periods.index(row["period"])
            ax.axvspan(index - 0.5, index + 0.5, color="#bbbbbb", alpha=0.25, hatch="//", lw=0)
            ax.annotate("partial", (index, 0), xytext=(0, 4), textcoords="offset points", ha="center", fontsize=7)
            marked.append(_partial_label(row))
    return marked


def plot_monthly_revenue(monthly: pd.DataFrame, coverage: pd.DataFrame | None = None) -> Any:
    """Gross and net revenue per month, £ on a y-axis from zero, partial months hatched, and how to read it."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(10, 4.8))
    periods = [str(p) for p in monthly["period"]]
    x = range(len(periods))
    gross = monthly["gross_revenue"].astype("float64")
    net = monthly["net_revenue"].astype("float64")
    ax.bar([i - 0.2 for i in x], gross, width=0.4, label="gross (sale lines)", color="#4c72b0")
    ax.bar([i + 0.2 for i in x], net, width=0.4, label="net (every line)", color="#dd8452")
    ax.set_xticks(list(x), periods, rotation=45, ha="right")
    ax.yaxis.set_major_formatter(FuncFormatter(money))
    ax.set_ylim(bottom=min(0.0, float(net.min()) if len(net) else 0.0))
    ax.set_title("Revenue by month")
    ax.set_xlabel("month")
    ax.set_ylabel("revenue (£)")
    ax.legend(loc="upper left")
    marked = _partial_marks(ax, periods, coverage)
    above = [p for p, g, n in zip(periods, gross, net, strict=True) if n > g]
    text = f"Gross = sale lines only; {NET_MEANS}."
    if above:
        text += (f" Net is above gross in {', '.join(above)}: service charges and positive adjustments "
                 f"there outweigh the cancellations.")
    if marked:
        text += f" Hatched: a partial month in the data ({'; '.join(marked)}), not a drop in sales."
    _caption(fig, text)
    return fig


def plot_country_share(countries: pd.DataFrame, top: int = 10) -> Any:
    """Each country's share of net revenue in %, on a linear scale, the rest summed as `other`."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    total = float(countries["net_revenue"].astype("float64").sum()) or 1.0
    shares = countries[["country", "net_revenue"]].copy()
    shares["share"] = shares["net_revenue"].astype("float64") / total
    shown = shares.head(top)
    rest = shares.iloc[top:]
    rows = [(str(c), float(s)) for c, s in zip(shown["country"], shown["share"], strict=True)]
    if len(rest):
        rows.append((f"other ({len(rest)} countries)", float(rest["share"].sum())))
    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.38 * max(len(rows), 1)))
    names, values = [r[0] for r in rows], [r[1] for r in rows]
    bars = ax.barh(names, values, color="#4c72b0")
    ax.bar_label(bars, labels=[f" {v:.1%}" for v in values], fontsize=8)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlim(0, max([*values, 0.01]) * 1.15)
    ax.set_title(f"Share of net revenue by country (top {min(top, len(shares))})")
    ax.set_xlabel("share of net revenue (%)")
    ax.set_ylabel("country")
    lead = f"{rows[0][0]} takes {rows[0][1]:.1%} of all net revenue; " if rows else ""
    _caption(fig, f"{lead}a linear scale, so bar lengths compare as shares do ({money(total)} in all; "
                  f"{NET_MEANS}).")
    return fig


def plot_top_products(products: pd.DataFrame) -> Any:
    """The top products by sales revenue, £ on an axis from zero."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(9, 1.0 + 0.4 * max(len(products), 1)))
    values = products["revenue"].astype("float64")
    bars = ax.barh([str(d) for d in products["description"]], values, color="#4c72b0")
    ax.bar_label(bars, labels=[f" {money(v)}" for v in values], fontsize=8)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(FuncFormatter(money))
    ax.set_xlim(0, max([*values, 1.0]) * 1.15)
    ax.set_title(f"Top {len(products)} products by sales revenue")
    ax.set_xlabel("sales revenue (£, sale lines only)")
    ax.set_ylabel("product")
    _caption(fig, "Revenue of sale lines (quantity x unit price) per product, before cancellations; "
                  "the axis starts at zero.")
    return fig


def plot_cancellations(cancellations: pd.DataFrame, coverage: pd.DataFrame | None = None) -> Any:
    """Cancellation rate (%) and value cancelled (£) per month, both from zero, partial months marked."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    fig, (rate_ax, value_ax) = plt.subplots(1, 2, figsize=(12, 4.5))
    periods = [str(p) for p in cancellations["period"]]
    x = list(range(len(periods)))
    rates = cancellations["cancellation_rate"].astype("float64")
    rate_ax.plot(x, rates, marker="o", color="#c44e52")
    rate_ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    rate_ax.set_ylim(0, max([*rates.fillna(0), 0.01]) * 1.2)
    rate_ax.set_title("Cancellation rate by month")
    rate_ax.set_ylabel("cancelled invoices (% of invoices)")
    values = cancellations["cancelled_value"].astype("float64")
    value_ax.bar(x, values, color="#c44e52")
    value_ax.yaxis.set_major_formatter(FuncFormatter(money))
    value_ax.set_ylim(bottom=0)
    value_ax.set_title("Value cancelled by month")
    value_ax.set_ylabel("value cancelled (£)")
    marked = []
    for ax in (rate_ax, value_ax):
        ax.set_xticks(x, periods, rotation=45, ha="right")
        ax.set_xlabel("month")
        marked = _partial_marks(ax, periods, coverage)
    text = ("Rate = cancelled invoices / (sale + cancelled invoices) of the month; both axes start at zero, so a "
            "change reads at its true size.")
    if marked:
        text += f" Hatched: a partial month ({'; '.join(marked)})."
    _caption(fig, text)
    return fig


def plot_segments(segments: pd.DataFrame) -> Any:
    """Customers and net revenue per RFM segment."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, (count_ax, money_ax) = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    names = [str(s) for s in segments.index]
    count_ax.barh(names, segments["customers"].astype("float64"), color="#4c72b0")
    count_ax.invert_yaxis()
    count_ax.set_xlim(left=0)
    count_ax.set_title("Customers by segment")
    count_ax.set_xlabel("customers")
    count_ax.set_ylabel("RFM segment")
    money_ax.barh(names, segments["monetary"].astype("float64"), color="#55a868")
    money_ax.xaxis.set_major_formatter(FuncFormatter(money))
    money_ax.set_xlim(left=min(0.0, float(segments["monetary"].astype("float64").min()) if len(segments) else 0.0))
    money_ax.set_title("Net revenue by segment")
    money_ax.set_xlabel("net revenue (£: sales less cancellations)")
    money_ax.set_ylabel("RFM segment")
    _caption(fig, "Segments from the recency (R) and frequency (F) quintile scores (explore.SEGMENT_GRID); net "
                  "revenue is each segment's sales less its cancellations.")
    return fig


def plot_quarantine_reasons(reasons: pd.DataFrame) -> Any:
    """Quarantined rows by reason code (or a chart that says nothing was quarantined)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.4 * max(len(reasons), 1)))
    if len(reasons):
        bars = ax.barh([str(r) for r in reasons["reason"]], reasons["rows"].astype("float64"), color="#8172b2")
        ax.bar_label(bars, labels=[f" {int(v):,}" for v in reasons["rows"]], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, float(reasons["rows"].max()) * 1.2)
    else:
        ax.text(0.5, 0.5, "nothing quarantined", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_title("Quarantined rows by reason")
    ax.set_xlabel("quarantined rows")
    ax.set_ylabel("reason code")
    _caption(fig, "Each quarantined line keeps its raw text and the first rule it broke (its reason code).")
    return fig


def plot_cohort_retention(counts: pd.DataFrame) -> Any:
    """Cohort retention from month 1 on, coloured on its own range (month 0 is 100 % by definition), with sizes."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    sizes = counts[0].astype("float64") if len(counts.columns) else pd.Series(dtype="float64")
    later = counts.drop(columns=[0], errors="ignore")
    retention = later.astype("Float64").div(sizes.replace(0, math.nan), axis=0).astype("float64")
    values = retention.to_numpy(dtype="float64", na_value=math.nan)
    finite = values[~pd.isna(values)] if values.size else values
    top = float(finite.max()) if finite.size and float(finite.max()) > 0 else 1.0
    fig, ax = plt.subplots(figsize=(1.5 + 0.6 * max(len(retention.columns), 1), 1.6 + 0.4 * max(len(retention), 1)))
    image = ax.imshow(values if values.size else [[math.nan]], cmap="YlGnBu", vmin=0.0, vmax=top, aspect="auto")
    ax.set_xticks(range(len(retention.columns)), [str(c) for c in retention.columns])
    ax.set_yticks(range(len(retention.index)),
                  [f"{i} (n={int(n):,})" for i, n in zip(retention.index, sizes, strict=True)])
    ax.set_xlabel("months since first purchase")
    ax.set_ylabel("cohort (first purchase month, customers)")
    ax.set_title("Monthly cohort retention (from month 1)")
    for row, line in enumerate(values):
        for col, value in enumerate(line):
            if not math.isnan(value):
                ax.text(col, row, f"{value:.0%}", ha="center", va="center", fontsize=7,
                        color="white" if value > 0.6 * top else "black")
    ax.figure.colorbar(image, ax=ax, format=PercentFormatter(1.0, decimals=0), label="share of the cohort buying")
    _caption(fig, f"Cells: the share of a cohort (n = its customers) that bought again that month. Month 0 is "
                  f"100 % by definition and left out, so the colours span 0 to {top:.0%}; blank: beyond the data. "
                  f"Each row's last cell falls in the data's last month, low when that month is partial.")
    return fig
