"""The quality gate of the batch job: a great-expectations suite over the staged curated partitions.

Write-audit-publish: `run_batch` stages the touched partitions, this gate audits them, and only a
passing run is published. The suite checks the `sales` contract (columns in order and their types,
not-null keys, `line_type` values, value ranges); three exact checks of our own complete it: decimal
precision and scale (GE compares type classes), `record_id` unique (hashed first, see
`keys_problems`), and the run's row accounting.

great-expectations 1.x validates a Spark DataFrame through an ephemeral context (no files, no
network). GE bundles the aggregate metrics of a domain into one Spark job, so the suite costs a
handful of jobs (row count, one aggregate of all map conditions, the conditional price range)
whatever its number of expectations; they ask for `BOOLEAN_ONLY` results, so GE computes counts,
never samples of failing rows.

    gate = QualityGate()
    gate(spark, staged_run)        # fills staged_run.report.quality, raises QualityGateError
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecomflow.errors import QualityGateError
from ecomflow.report import RunReport
from ecomflow.schemas import CURATED_SCHEMA, LINE_TYPES
from ecomflow.sinks import lake

if TYPE_CHECKING:
    import great_expectations as gx

    from ecomflow.pipelines.batch import StagedRun

log = logging.getLogger(__name__)

SUITE_NAME = "curated_sales_staged"
NOT_NULL_KEYS: tuple[str, ...] = (
    "record_id", "invoice_no", "stock_code", "quantity", "unit_price", "invoice_ts", "country", "line_type",
)
YEAR_RANGE = (2000, 2100)
MONTH_RANGE = (1, 12)
# The one line type allowed a negative unit price (the quarantine rule `negative_price` mirrors it).
NEGATIVE_PRICE_LINE_TYPE = "adjustment"
RESULT_FORMAT = "BOOLEAN_ONLY"
# Not cached: each of GE's few Spark jobs reads only the parquet columns it needs, which measured
# twice as fast on the real file as caching all columns first (GE's default).
PERSIST = False
REPORT_BALANCED = "report_rows_balanced"
KEY_UNIQUE = "expect_column_values_to_be_unique(record_id)"
SCHEMA_EXACT = "expect_column_type_to_equal"


@dataclass(frozen=True)
class QualityResult:
    """The outcome of one gate run: what was evaluated and the names of the failed checks."""

    success: bool
    evaluated: int
    failed: tuple[str, ...] = ()
    seconds: float = 0.0
    checks: tuple[str, ...] = field(default=(), repr=False)

    def to_report(self) -> dict[str, object]:
        """The dict stored as `RunReport.quality`."""
        doc = asdict(self)
        doc.pop("checks")
        doc["failed"] = list(self.failed)
        doc["suite"] = SUITE_NAME
        return doc


def expectation_name(expectation: gx.expectations.Expectation) -> str:
    """A stable, readable name: `expect_column_values_to_be_unique(record_id)`, or `meta["name"]`."""
    label = (expectation.meta or {}).get("name")
    if label:
        return str(label)
    column = getattr(expectation, "column", None)
    return f"{expectation.expectation_type}({column})" if column else expectation.expectation_type


def _gx_type_name(data_type: T.DataType) -> str:
    # GE compares Spark types by class name, so decimal(12,3) is checked as DecimalType here and
    # its precision and scale by the exact schema comparison in `schema_problems`.
    return type(data_type).__name__


def curated_suite(min_rows: int = 0) -> gx.ExpectationSuite:
    """The expectation suite of the curated `sales` table.

    Args:
        min_rows: the least number of rows the staged partitions must hold (the run's curated rows).
    """
    import great_expectations as gx
    from great_expectations.expectations.row_conditions import Column

    E = gx.expectations
    common = {"result_format": RESULT_FORMAT}
    suite = gx.ExpectationSuite(name=SUITE_NAME)
    suite.add_expectation(E.ExpectTableColumnsToMatchOrderedList(
        column_list=list(CURATED_SCHEMA.fieldNames()), **common))
    for struct_field in CURATED_SCHEMA.fields:
        suite.add_expectation(E.ExpectColumnValuesToBeOfType(
            column=struct_field.name, type_=_gx_type_name(struct_field.dataType), **common))
    suite.add_expectation(E.ExpectTableRowCountToBeBetween(
        min_value=min_rows, meta={"name": f"expect_table_row_count_to_be_between(min={min_rows})"}, **common))
    for column in NOT_NULL_KEYS:
        suite.add_expectation(E.ExpectColumnValuesToNotBeNull(column=column, **common))
    suite.add_expectation(E.ExpectColumnValuesToBeInSet(column="line_type", value_set=list(LINE_TYPES), **common))
    suite.add_expectation(E.ExpectColumnValuesToNotBeInSet(column="quantity", value_set=[0], **common))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(
        column="year", min_value=YEAR_RANGE[0], max_value=YEAR_RANGE[1], **common))
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(
        column="month", min_value=MONTH_RANGE[0], max_value=MONTH_RANGE[1], **common))
    # Exact: no `mostly`, the exception is a row condition. GE compares with the literal 0.0, so Spark
    # casts the decimal to double; against zero that is exact (a decimal keeps its sign, -0.001 < 0.0).
    # Rows with a null line_type fall outside the condition; the not-null check already fails them.
    suite.add_expectation(E.ExpectColumnValuesToBeBetween(
        column="unit_price", min_value=0, row_condition=Column("line_type") != NEGATIVE_PRICE_LINE_TYPE,
        meta={"name": f"expect_column_values_to_be_between(unit_price, min=0, "
                      f"where line_type != {NEGATIVE_PRICE_LINE_TYPE})"}, **common))
    # record_id unique: checked by `keys_problems` (GE would shuffle every 64-character id).
    return suite


def keys_problems(df: DataFrame, key: str = "record_id") -> list[str]:
    """Exact: no non-null `key` appears twice.

    GE's uniqueness expectations shuffle every value (64-character ids: 6 s of the gate's 13 s on
    the 10x file). Here the ids are counted through a 64-bit hash first, 8 bytes a row to shuffle:
    equal ids have equal hashes, so as many distinct hashes as ids proves uniqueness. Only when
    hashes coincide (a duplicate, or a hash collision) are the ids themselves counted.
    """
    column = F.col(key)
    counts = df.agg(F.count(column).alias("ids"),
                    F.countDistinct(F.when(column.isNotNull(), F.xxhash64(column))).alias("hashes")).first()
    if counts["ids"] == counts["hashes"]:
        return []
    distinct = df.where(column.isNotNull()).select(key).distinct().count()
    return [] if distinct == counts["ids"] else [KEY_UNIQUE]


def report_problems(report: RunReport) -> list[str]:
    """Row accounting of the run report: every line read is curated, quarantined or a duplicate."""
    if report.balanced:
        return []
    return [f"{REPORT_BALANCED} (rows_read {report.rows_read} != curated {report.rows_curated} + quarantined "
            f"{report.rows_quarantined} + duplicates {report.duplicates_dropped})"]


def ephemeral_context() -> gx.data_context.EphemeralDataContext:
    """An in-memory GE context: no files, no docs site, no analytics, no progress bars."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
                               analytics_enabled=False, progress_bars=ProgressBarsConfig(globally=False))
    return gx.get_context(project_config=config, mode="ephemeral")


def _exception_message(info: dict | None) -> str | None:
    # GE reports an error either flat ({"raised_exception": ..., "exception_message": ...}) or per metric.
    if not info:
        return None
    if "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    return next((m for m in map(_exception_message, info.values()) if m), None) if all(
        isinstance(v, dict) for v in info.values()) else None


def validate_curated(df: DataFrame, min_rows: int = 0, report: RunReport | None = None) -> QualityResult:
    """Validate staged curated rows with the suite, plus the report's row accounting.

    Args:
        df: the staged curated rows (read with the table's schema).
        min_rows: the least number of rows `df` must hold.
        report: the run report whose row accounting is checked too, if given.
    """
    started = time.monotonic()
    context = ephemeral_context()
    suite = context.suites.add(curated_suite(min_rows))
    asset = context.data_sources.add_spark(name="staged_lake", persist=PERSIST).add_dataframe_asset(
        name="curated_sales")
    batch = asset.add_batch_definition_whole_dataframe("staged_partitions").get_batch(
        batch_parameters={"dataframe": df})
    result = batch.validate(suite, result_format=RESULT_FORMAT)
    names = {e.id: expectation_name(e) for e in suite.expectations}
    failed = []
    for outcome in result.results:
        if not outcome.success:
            name = names.get(outcome.expectation_config.id) or outcome.expectation_config.type
            error = _exception_message(outcome.exception_info)
            # A name per line: the error message of the gate is one line.
            failed.append(" ".join(f"{name}: {error}".split()) if error else name)
    checks = list(names.values())
    checks.append(SCHEMA_EXACT)
    failed += schema_problems(df.schema)
    checks.append(KEY_UNIQUE)
    failed += keys_problems(df)
    if report is not None:
        checks.append(REPORT_BALANCED)
        failed += report_problems(report)
    return QualityResult(success=not failed, evaluated=len(checks), failed=tuple(failed),
                         seconds=round(time.monotonic() - started, 3), checks=tuple(checks))


def schema_problems(schema: T.StructType, contract: T.StructType = CURATED_SCHEMA) -> list[str]:
    """Exact type differences between the staged files and the contract (decimal precision included).

    GE checks a Spark type by its class only (`DecimalType`), so precision and scale are compared here.
    """
    actual = {f.name: f.dataType for f in schema.fields}
    return [f"{SCHEMA_EXACT}({f.name}: {actual[f.name].simpleString()} != {f.dataType.simpleString()})"
            for f in contract.fields if f.name in actual and actual[f.name] != f.dataType]


def read_staged_curated(spark: SparkSession, staged: lake.StagedTable) -> DataFrame:
    """The staged curated rows with the schema their files hold (not the contract's).

    The gate must see what was written: reading with the contract schema would make the schema
    checks vacuous.
    """
    if not staged.partitions:
        return lake.read_partitions(spark, staged, CURATED_SCHEMA)
    return spark.read.option("basePath", staged.staged_uri).parquet(
        *[f"{staged.staged_uri}/{p}" for p in staged.partitions])


class QualityGate:
    """The batch job's gate: validates the staged curated partitions of a run (`QualityGate` protocol).

    Fills `staged_run.report.quality` and raises QualityGateError naming the failed checks.
    """

    def __init__(self) -> None:
        self.last_report: RunReport | None = None  # the report of the last audited run, for failure handling
        # Importing great-expectations takes seconds; do it while Spark stages the run.
        threading.Thread(target=importlib.import_module, args=("great_expectations",), daemon=True,
                         name="import-great-expectations").start()

    def __call__(self, spark: SparkSession, staged_run: StagedRun) -> None:
        self.last_report = staged_run.report
        df = read_staged_curated(spark, staged_run.curated)
        result = validate_curated(df, min_rows=staged_run.report.rows_curated, report=staged_run.report)
        staged_run.report.quality = result.to_report()
        log.info("quality gate %s: %d checks, %d failed in %.1fs", "passed" if result.success else "FAILED",
                 result.evaluated, len(result.failed), result.seconds)
        if not result.success:
            raise QualityGateError(list(result.failed))

