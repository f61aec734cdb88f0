"""The notebooks' analysis API on tiny hand-made parquet lakes; every expected value is worked out by hand."""

from __future__ import annotations

import json
import math
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from ecomflow.analytics import explore
from ecomflow.errors import InputError

SALES_FILE_SCHEMA = pa.schema([  # the curated columns but the partition columns
    ("record_id", pa.string()), ("invoice_no", pa.string()), ("stock_code", pa.string()),
    ("description", pa.string()), ("quantity", pa.int32()), ("unit_price", pa.decimal128(12, 3)),
    ("revenue", pa.decimal128(18, 3)), ("invoice_ts", pa.timestamp("us")), ("customer_id", pa.string()),
    ("country", pa.string()), ("line_type", pa.string()), ("source", pa.string()),
    ("ingested_at", pa.timestamp("us")),
])
QUARANTINE_FILE_SCHEMA = pa.schema([
    ("quarantine_id", pa.string()), ("raw_line", pa.string()), ("source", pa.string()),
    ("ingested_at", pa.timestamp("us")),
])
INGESTED = datetime(2012, 1, 1)


def line(invoice: str, stock: str, quantity: int, price: str, when: str, customer: str | None,
         country: str = "United Kingdom", line_type: str = "sale") -> dict:
    """One curated row; revenue is quantity x price, as the batch job computes it."""
    unit_price = Decimal(price)
    return {
        "record_id": f"{invoice}/{stock}/{when}", "invoice_no": invoice, "stock_code": stock,
        "description": f"product {stock}", "quantity": quantity, "unit_price": unit_price,
        "revenue": unit_price * quantity, "invoice_ts": datetime.fromisoformat(when), "customer_id": customer,
        "country": country, "line_type": line_type, "source": "test.csv", "ingested_at": INGESTED,
    }


def write_lake(root: Path, sales: list[dict], quarantine: dict[str, list[str]] | None = None) -> Path:
    """A lake with the batch job's tables, written with pyiceberg into the lake's catalog (local stack).

    Curated partitioned by year/month, quarantine by reason, at the zones the job uses; a lake
    without quarantine rows has an empty quarantine table, as after a run without bad lines.
    """
    from pyiceberg.exceptions import NamespaceAlreadyExistsError

    from ecomflow.local import iceberg

    catalog = iceberg.sql_catalog(str(root))
    try:
        catalog.create_namespace("ecomflow")
    except NamespaceAlreadyExistsError:
        pass

    def table(name: str, zone: str, schema: pa.Schema, partitions: tuple[str, ...], rows: list[dict]) -> None:
        created = catalog.create_table(("ecomflow", name), schema=schema, location=(root / zone).as_uri())
        with created.update_spec() as spec:
            for column in partitions:
                spec.add_identity(column)
        if rows:
            created.append(pa.Table.from_pylist(rows, schema))

    (root / "curated" / "sales").mkdir(parents=True, exist_ok=True)
    month = [("year", pa.int32()), ("month", pa.int32())]
    table("sales", "curated/sales", pa.schema([*SALES_FILE_SCHEMA, *month]), ("year", "month"),
          [{**row, "year": row["invoice_ts"].year, "month": row["invoice_ts"].month} for row in sales])
    table("sales_quarantine", "quarantine/sales", pa.schema([*QUARANTINE_FILE_SCHEMA, ("reason", pa.string())]),
          ("reason",), [{"quarantine_id": f"{reason}-{i}", "raw_line": raw, "source": "test.csv",
                         "ingested_at": INGESTED, "reason": reason}
                        for reason, raw_lines in (quarantine or {}).items() for i, raw in enumerate(raw_lines)])
    return root


# A small shop over three months. Customers A (UK), B (France), C (Germany); one sale without a customer.
SHOP = [
    # January 2011: A buys two products, B buys and cancels one unit, B's invoice has postage.
    line("1001", "P1", 2, "5.000", "2011-01-05 10:00", "A"),                          # 10.000
    line("1001", "P2", 1, "3.500", "2011-01-05 10:00", "A"),                          # 3.500
    line("1002", "P1", 4, "5.000", "2011-01-06 11:00", "B", "France"),                # 20.000
    line("1002", "POST", 1, "18.000", "2011-01-06 11:00", "B", "France", "service"),  # 18.000
    line("C1003", "P1", -1, "5.000", "2011-01-07 12:00", "B", "France", "cancellation"),  # -5.000
    # February 2011: A again, an anonymous sale, a stock adjustment.
    line("1004", "P2", 10, "3.500", "2011-02-10 09:30", "A"),                         # 35.000
    line("1005", "P3", 1, "100.000", "2011-02-11 14:00", None),                       # 100.000
    line("1006", "P3", -3, "0.000", "2011-02-12 08:00", None, line_type="stock_adjustment"),  # 0
    # March 2011: C's first purchase, B again.
    line("1007", "P1", 1, "5.000", "2011-03-20 16:45", "C", "Germany"),               # 5.000
    line("1008", "P2", 2, "3.500", "2011-03-15 10:00", "B", "France"),                # 7.000
]
QUARANTINE = {
    "zero_quantity": ["1009,P1,product P1,0,3/1/2011 9:00,5.00,17850,United Kingdom",
                      "1010,P2,product P2,0,3/1/2011 9:05,3.50,17850,United Kingdom"],
    "bad_quantity": ["1011,P1,product P1,six,3/1/2011 9:10,5.00,17850,United Kingdom"],
}


@pytest.fixture
def shop(tmp_path, local_stack) -> explore.Lake:
    return explore.open_lake(write_lake(tmp_path / "lake", SHOP, QUARANTINE))


def records(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    return [tuple(row) for row in frame[columns].itertuples(index=False)]


# --- opening a lake --------------------------------------------------------------------------------

def test_open_lake_gives_typed_sales_and_quarantine_views_with_partitions(shop):
    columns = dict(shop.connection.execute("SELECT column_name, column_type FROM (DESCRIBE sales)").fetchall())
    assert columns["unit_price"] == "DECIMAL(12,3)"
    assert columns["revenue"] == "DECIMAL(18,3)"
    assert columns["year"] == columns["month"] == "INTEGER"
    assert shop.sql("SELECT COUNT(*) AS n FROM sales").at[0, "n"] == 10
    assert shop.sql("SELECT DISTINCT year, month FROM sales ORDER BY month")["month"].tolist() == [1, 2, 3]
    assert shop.sql("SELECT COUNT(*) AS n FROM quarantine").at[0, "n"] == 3


def test_open_lake_accepts_a_file_uri(local_stack, tmp_path):
    root = write_lake(tmp_path / "lake", SHOP[:1])
    assert explore.open_lake(f"file://{root}").sql("SELECT COUNT(*) AS n FROM sales").at[0, "n"] == 1


def test_a_lake_without_quarantine_has_an_empty_quarantine_view(local_stack, tmp_path):
    lake = explore.open_lake(write_lake(tmp_path / "lake", SHOP[:1]))
    assert explore.quarantine_reasons(lake).empty


def test_a_folder_that_is_no_lake_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no lake at .*make demo"):
        explore.open_lake(tmp_path / "nothing-here")


@pytest.fixture
def glue(monkeypatch):
    """A Glue client on moto's in-process mock."""
    import boto3
    from moto import mock_aws

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # the local stack's: mock_aws would not see the calls
    with mock_aws():
        yield boto3.client("glue", region_name="us-east-1")


def test_open_catalog_reads_the_tables_the_batch_job_registered(local_stack, tmp_path, glue):
    from ecomflow.stores import catalog

    root = write_lake(tmp_path / "lake", SHOP, QUARANTINE)
    from ecomflow.local import iceberg

    names = ["sales", "sales_quarantine"]
    catalog.register_tables(glue, "analytics", f"file://{root}",
                            iceberg.metadata_locations(str(root), "ecomflow", names))
    lake = explore.open_catalog("analytics", glue=glue)
    assert lake.location == "glue:analytics"
    assert lake.sql("SELECT COUNT(*) AS n FROM sales").at[0, "n"] == 10
    assert explore.quarantine_reasons(lake)["rows"].sum() == 3
    assert explore.monthly_revenue(lake)["net_revenue"].tolist() == [46.5, 135.0, 12.0]  # database renamed


def test_open_catalog_without_the_database_is_a_clear_error(glue):
    with pytest.raises(InputError, match="no database 'ecomflow'"):
        explore.open_catalog("ecomflow", glue=glue)


def test_named_athena_queries_run_against_the_lake(shop):
    assert shop.athena("SELECT COUNT(*) AS n FROM ecomflow.sales;").at[0, "n"] == 10


# --- row accounting and quarantine -----------------------------------------------------------------

def test_row_accounting_from_report_and_lake(shop, tmp_path):
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"rows_read": 15, "rows_curated": 10, "rows_quarantined": 3,
                                  "duplicates_dropped": 2}))
    accounting = explore.row_accounting(shop, report)
    assert accounting["report"].tolist() == [15, 10, 3, 2, 0]
    assert accounting["lake"].tolist()[1:3] == [10, 3]
    assert accounting["lake"].isna().tolist() == [True, False, False, True, True]


def test_row_accounting_shows_rows_a_run_lost(shop):
    accounting = explore.row_accounting(shop, {"rows_read": 16, "rows_curated": 10, "rows_quarantined": 3,
                                               "duplicates_dropped": 2})
    assert accounting.at["unaccounted", "report"] == 1


def test_row_accounting_without_report_has_only_the_lake(shop):
    assert list(explore.row_accounting(shop).columns) == ["lake"]


def test_a_missing_report_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no run report"):
        explore.load_report(tmp_path / "missing.json")


def test_default_report_is_the_demo_report_beside_the_demo_lake(tmp_path, monkeypatch):
    monkeypatch.setattr(explore, "DEMO_LAKE", tmp_path / "demo" / "lake")
    assert explore.default_report(None) is None  # no demo run yet
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "report.json").write_text("{}")
    assert explore.default_report(None) == tmp_path / "demo" / "report.json"
    assert explore.default_report(tmp_path / "other-lake") is None  # a lake given: only an explicit report


def test_quarantine_reasons_with_share_and_example(shop):
    reasons = explore.quarantine_reasons(shop)
    assert records(reasons, ["reason", "rows"]) == [("zero_quantity", 2), ("bad_quantity", 1)]
    assert reasons["share"].tolist() == pytest.approx([2 / 3, 1 / 3])
    assert reasons.at[0, "example"] == QUARANTINE["zero_quantity"][0]  # the smaller raw line


def test_quarantine_examples_of_one_reason(shop):
    examples = explore.quarantine_examples(shop, "bad_quantity")
    assert examples["raw_line"].tolist() == QUARANTINE["bad_quantity"]
    assert len(explore.quarantine_examples(shop, limit=2)) == 2


def test_duplicate_record_ids(local_stack, tmp_path):
    assert explore.duplicate_record_ids(explore.open_lake(write_lake(tmp_path / "a", SHOP))) == 0
    twice = explore.open_lake(write_lake(tmp_path / "b", [SHOP[0], SHOP[0], SHOP[1]]))
    assert explore.duplicate_record_ids(twice) == 1


def test_line_types(shop):
    types = explore.line_types(shop)
    assert records(types, ["line_type", "rows", "revenue"]) == [
        ("sale", 7, 180.5), ("cancellation", 1, -5.0), ("service", 1, 18.0), ("stock_adjustment", 1, 0.0)]


# --- the Athena questions --------------------------------------------------------------------------

def test_monthly_revenue(shop):
    monthly = explore.monthly_revenue(shop)
    # Jan: sales 10 + 3.5 + 20 = 33.5, cancelled -5, net 33.5 - 5 + 18 (postage) = 46.5; customers A, B.
    # Feb: sales 35 + 100 = 135; customers A only (the anonymous sale has none). Mar: 5 + 7 = 12; B, C.
    assert records(monthly, ["period", "invoices", "customers", "gross_revenue", "cancelled_revenue",
                             "net_revenue"]) == [
        ("2011-01", 2, 2, 33.5, -5.0, 46.5),
        ("2011-02", 2, 1, 135.0, 0.0, 135.0),
        ("2011-03", 2, 2, 12.0, 0.0, 12.0),
    ]


def test_revenue_by_country(shop):
    countries = explore.revenue_by_country(shop)
    # UK 10 + 3.5 + 35 + 100 + 0 = 148.5; France 20 + 18 - 5 + 7 = 40; Germany 5; all 193.5.
    assert records(countries, ["country", "customers", "invoices", "net_revenue"]) == [
        ("United Kingdom", 1, 3, 148.5), ("France", 1, 2, 40.0), ("Germany", 1, 1, 5.0)]
    assert countries["revenue_share"].tolist() == pytest.approx([0.7674, 0.2067, 0.0258])


def test_top_products_are_net_of_cancellations(shop):
    # P3 100 (the stock adjustment is no sale); P2 3.5 + 35 + 7 = 45.5;
    # P1 10 + 20 + 5 less the cancelled unit 5 = 30, units 2 + 4 + 1 - 1 = 6, sale invoices 1001, 1002, 1007.
    assert records(explore.top_products(shop), ["stock_code", "description", "units", "invoices", "revenue"]) == [
        ("P3", "product P3", 1, 1, 100.0), ("P2", "product P2", 13, 3, 45.5), ("P1", "product P1", 6, 3, 30.0)]


def test_cancellation_rate(shop):
    rates = explore.cancellation_rate(shop)
    # January: invoices 1001, 1002 sold and C1003 cancelled: 1 / 3.
    assert records(rates, ["period", "sale_invoices", "cancelled_invoices", "cancelled_value"]) == [
        ("2011-01", 2, 1, 5.0), ("2011-02", 2, 0, 0.0), ("2011-03", 2, 0, 0.0)]
    assert rates["cancellation_rate"].tolist() == pytest.approx([0.3333, 0.0, 0.0])


# --- RFM -------------------------------------------------------------------------------------------

def test_quintile_score_of_distinct_values():
    assert explore.quintile_score(pd.Series([10, 50, 30, 20, 40])).tolist() == [1, 5, 3, 2, 4]
    # Ten values: two per quintile (ceil(5 * rank / 10)).
    assert explore.quintile_score(pd.Series(range(10))).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_quintile_score_lower_is_better():
    assert explore.quintile_score(pd.Series([0, 100, 7]), higher_is_better=False).tolist() == [5, 2, 4]


def test_quintile_score_gives_ties_one_score():
    # Ranks 1.5, 1.5, 3, 4, 5 of 5 -> ceil(1.5) = 2 for both ties.
    assert explore.quintile_score(pd.Series([1, 1, 2, 3, 4])).tolist() == [2, 2, 3, 4, 5]


@pytest.mark.parametrize(("r", "f", "name"), [
    (5, 5, "Champions"), (5, 1, "New customers"), (4, 4, "Loyal"), (3, 5, "Loyal"),
    (4, 2, "Potential loyalists"), (4, 1, "Promising"), (3, 3, "Need attention"), (3, 1, "About to sleep"),
    (2, 3, "At risk"), (1, 4, "At risk"), (2, 5, "Can't lose"), (2, 2, "Hibernating"), (1, 1, "Lost"),
])
def test_segment_grid(r, f, name):
    assert explore.segment(r, f) == name


def test_every_score_pair_has_a_segment():
    assert {explore.segment(r, f) for r in range(1, 6) for f in range(1, 6)} == set(explore.SEGMENTS)


def test_rfm_of_the_lake(shop):
    scored = explore.rfm(shop)
    # As of 2011-03-20 (the last invoice): A last bought 2011-02-10 (38 days), 2 invoices, 13.5 + 35 = 48.5;
    # B 2011-03-15 (5 days), 2 invoices, 20 - 5 + 7 = 22 (postage is no sale); C 2011-03-20 (0), 1 invoice, 5.
    assert records(scored, ["customer_id", "recency_days", "frequency", "monetary"]) == [
        ("A", 38, 2, 48.5), ("B", 5, 2, 22.0), ("C", 0, 1, 5.0)]
    # n = 3: R ranks (recent best) A 1, B 2, C 3 -> ceil(5/3) = 2, ceil(10/3) = 4, 5;
    # F: A and B tie at rank 2.5 -> ceil(12.5/3) = 5, C rank 1 -> 2; M: A 5, B 4, C 2.
    assert records(scored, ["r_score", "f_score", "m_score", "rfm"]) == [
        (2, 5, 5, "255"), (4, 5, 4, "454"), (5, 2, 2, "522")]
    assert [str(s) for s in scored["segment"]] == ["Can't lose", "Loyal", "Potential loyalists"]


def test_rfm_leaves_out_customers_without_a_sale(local_stack, tmp_path):
    only_cancelled = line("C2001", "P1", -1, "5.000", "2011-01-07 12:00", "Z", line_type="cancellation")
    lake = explore.open_lake(write_lake(tmp_path / "lake", [SHOP[0], only_cancelled]))
    assert explore.rfm(lake)["customer_id"].tolist() == ["A"]


def test_segment_summary():
    scored = explore.score_rfm(pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e"], "recency_days": [0, 1, 2, 3, 4],
        "frequency": [5, 4, 3, 2, 1], "monetary": [50.0, 40.0, 30.0, 20.0, 10.0]}))
    # R and F scores: a 55 Champions, b 44 Loyal, c 33 Need attention, d 22 Hibernating, e 11 Lost.
    summary = explore.segment_summary(scored)
    assert summary.index.tolist() == ["Champions", "Loyal", "Need attention", "Hibernating", "Lost"]
    assert summary["customers"].tolist() == [1, 1, 1, 1, 1]
    assert summary["share"].tolist() == pytest.approx([0.2] * 5)
    assert summary["monetary"].tolist() == [50.0, 40.0, 30.0, 20.0, 10.0]


# --- cohorts ---------------------------------------------------------------------------------------

def cohort_lake(tmp_path) -> explore.Lake:
    """Cohorts: Jan {A, B, D}, Feb {E}, Mar {C}; A active in Feb, B in Mar; data ends in March."""
    rows = [
        line("1", "P1", 1, "1.000", "2011-01-03 10:00", "A"), line("2", "P1", 1, "1.000", "2011-01-04 10:00", "B"),
        line("3", "P1", 1, "1.000", "2011-01-05 10:00", "D"), line("4", "P1", 1, "1.000", "2011-02-01 10:00", "A"),
        line("5", "P1", 1, "1.000", "2011-02-02 10:00", "E"), line("6", "P1", 1, "1.000", "2011-03-01 10:00", "B"),
        line("7", "P1", 1, "1.000", "2011-03-02 10:00", "C"),
        # Not purchases: a cancellation by E in March, an anonymous sale.
        line("C8", "P1", -1, "1.000", "2011-03-03 10:00", "E", line_type="cancellation"),
        line("9", "P1", 1, "1.000", "2011-03-04 10:00", None),
    ]
    return explore.open_lake(write_lake(tmp_path / "lake", rows))


def test_cohort_counts(tmp_path):
    counts = explore.cohort_counts(cohort_lake(tmp_path))
    assert counts.index.tolist() == ["2011-01", "2011-02", "2011-03"]
    assert counts.columns.tolist() == [0, 1, 2]
    # Jan: 3 then A, then B. Feb: E, then nobody (0, inside the data). Mar: C; later months do not exist yet.
    assert [[None if pd.isna(v) else int(v) for v in row] for row in counts.itertuples(index=False)] == [
        [3, 1, 1], [1, 0, None], [1, None, None]]


def test_cohort_retention(tmp_path):
    retention = explore.cohort_retention(cohort_lake(tmp_path))
    assert retention.loc["2011-01"].tolist() == pytest.approx([1.0, 1 / 3, 1 / 3])
    assert retention.loc["2011-02", 0] == 1.0 and retention.loc["2011-02", 1] == 0.0
    assert math.isnan(retention.loc["2011-02", 2])
    assert retention.loc["2011-03", 0] == 1.0 and retention.loc["2011-03"].isna().sum() == 2


def test_plot_row_accounting_labels_known_counts_only(shop):
    import matplotlib

    matplotlib.use("Agg")
    accounting = explore.row_accounting(shop, {"rows_read": 15, "rows_curated": 10, "rows_quarantined": 3,
                                               "duplicates_dropped": 2})
    ax = explore.plot_row_accounting(accounting)
    assert [t.get_text().strip() for t in ax.texts] == ["15", "10", "3", "2", "", "10", "3", ""]


def test_plot_retention_draws_one_cell_label_per_known_cell(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    ax = explore.plot_retention(explore.cohort_retention(cohort_lake(tmp_path)))
    assert [t.get_text() for t in ax.texts] == ["100%", "33%", "33%", "100%", "0%", "100%"]


# --- the lake's runs and which lake a reader reads --------------------------------------------------

def keep_report(lake: Path, run_id: str, published: bool = True, rows_read: int = 10) -> Path:
    path = lake / "_reports" / run_id / "report.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"run_id": run_id, "rows_read": rows_read, "rows_curated": rows_read,
                                "rows_quarantined": 0, "duplicates_dropped": 0, "published": published}))
    return path


def test_the_latest_published_run_report_is_found_in_the_lake(local_stack, tmp_path):
    lake = write_lake(tmp_path / "lake", SHOP)
    keep_report(lake, "20261201T000000Z-aaaaaaaa")
    newest = keep_report(lake, "20261202T000000Z-bbbbbbbb")
    keep_report(lake, "20261203T000000Z-cccccccc", published=False)  # stopped by the gate: not the lake's
    assert explore.latest_report(lake) == newest
    assert explore.default_report(str(lake)) == newest
    assert [p.parent.name for p in explore.run_reports(lake)][0] == "20261201T000000Z-aaaaaaaa"


def test_a_lake_without_reports_has_no_default_report(local_stack, tmp_path):
    lake = write_lake(tmp_path / "lake", SHOP)
    assert explore.latest_report(lake) is None and explore.default_report(str(lake)) is None


def test_describe_lake_says_where_partitions_and_latest_run(local_stack, tmp_path):
    lake = write_lake(tmp_path / "lake", SHOP, QUARANTINE)
    keep_report(lake, "20261202T000000Z-bbbbbbbb")
    assert explore.describe_lake(lake) == (f"lake {lake} (sales 3 partitions, sales_quarantine 2 partitions; "
                                           "latest run 20261202T000000Z-bbbbbbbb)")


def test_describe_an_empty_lake(tmp_path):
    (tmp_path / "lake" / "curated" / "sales").mkdir(parents=True)
    assert explore.describe_lake(tmp_path / "lake") == (f"lake {tmp_path / 'lake'} (sales 0 partitions, "
                                                        "sales_quarantine 0 partitions; no run report in it)")


def test_lake_athena_names_the_tables_as_the_catalog_does(local_stack, tmp_path):
    athena = explore.lake_athena(write_lake(tmp_path / "lake", SHOP))
    assert sorted(athena.tables) == ["sales", "sales_quarantine"]
    assert athena.sql("SELECT COUNT(*) FROM ecomflow.sales").rows == [(len(SHOP),)]
