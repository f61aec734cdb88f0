"""The quality gate of the batch job: plausible input, then a great-expectations suite over the staged partitions.

Write-audit-publish: `run_batch` stages the touched partitions, this gate audits them, and only a
passing run is published. It refuses implausible input in two steps, neither a Spark pass of its own:

- before the run reads anything (`QualityGate.check_input`, `input_problems`): every input file
  must be text and start with the raw header (the first 64 KiB of each file, read on the driver).
  A file without a header is refused too, data or not: its columns cannot be told from another
  file's, and a stray file (a readme) is one;
- on the counts the staging pass observed (`count_problems`): some lines read and curated, a
  quarantine share within `--max_quarantine_share`, curated invoice times within
  [`--min_invoice_date`, `--max_invoice_date`], no signs of a wrong encoding, few control characters.

Only plausible input goes on to the suite. It checks the `sales` contract (columns in order and
their types, not-null keys, `line_type` values, value ranges); three exact checks of our own
complete it: decimal precision and scale (GE compares type classes), `record_id` unique (hashed
first, see `keys_problems`), and the run's row accounting.

great-expectations 1.x validates a Spark DataFrame through an ephemeral context (no files, no
network). GE bundles the aggregate metrics of a domain into one Spark job, so the suite costs a
handful of jobs (row count, one aggregate of all map conditions, the conditional price range)
whatever its number of expectations; they ask for `BOOLEAN_ONLY` results, so GE computes counts,
never samples of failing rows.

    gate = QualityGate()
    gate.check_input(spark, config, run_id)   # before staging: the files' heads; raises QualityGateError
    gate(spark, staged_run)        # fills staged_run.report.quality, raises QualityGateError
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecomflow.config import BatchConfig, PlausibilityLimits
from ecomflow.contract import LINE_TYPES, RAW_FIELDS, RAW_HEADER
from ecomflow.errors import QualityGateError
from ecomflow.pipelines.staged import StagedRun
from ecomflow.spark import readers
from ecomflow.spark.report import RunReport
from ecomflow.spark.schemas import CURATED_SCHEMA
from ecomflow.stores import iceberg

if TYPE_CHECKING:
    import great_expectations as gx

log = logging.getLogger(__name__)

SUITE_NAME = "curated_sales_staged"
NOT_NULL_KEYS: tuple[str, ...] = (
    "record_id", "invoice_no", "stock_code", "quantity", "unit_price", "invoice_ts", "country", "line_type",
)
YEAR_RANGE = (2000, 2100)
MONTH_RANGE = (1, 12)
# The one line type allowed a negative unit price (the quarantine rule `negative_price` mirrors it).
NEGATIVE_PRICE_LINE_TYPE = "adjustment"
RESULT_FORMAT: Final = "BOOLEAN_ONLY"
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
        doc["checks"] = list(self.checks)  # every check the gate ran, for the run's page (failed ones in `failed`)
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
    common: dict[str, Any] = {"result_format": RESULT_FORMAT}
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
    assert counts is not None  # an aggregate without GROUP BY has one row
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


# --- plausible input ------------------------------------------------------------------------

INPUT_FILES = "input_files"
INPUT_TEXT = "input_is_text"
INPUT_HEADER = "input_header"
INPUT_CHECKS: tuple[str, ...] = (INPUT_FILES, INPUT_TEXT, INPUT_HEADER)
ROWS_READ = "rows_read_nonzero"
ROWS_CURATED = "rows_curated_nonzero"
QUARANTINE_SHARE = "quarantine_share"
INVOICE_DATES = "invoice_dates_plausible"
TEXT_ENCODING = "text_encoding"
TEXT_CONTROL = "text_without_control_characters"
COUNT_CHECKS: tuple[str, ...] = (ROWS_READ, ROWS_CURATED, QUARANTINE_SHARE, INVOICE_DATES, TEXT_ENCODING,
                                 TEXT_CONTROL)
# Compressed data the text source reads as bytes (it decompresses by extension only): what to do about it.
COMPRESSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip-compressed: name it *.gz"), (b"BZh", "bzip2-compressed: name it *.bz2"),
    (b"PK\x03\x04", "a zip archive: unzip it"), (b"\x28\xb5\x2f\xfd", "zstd-compressed: decompress it"),
)
UTF16_BOMS: tuple[bytes, ...] = (b"\xff\xfe", b"\xfe\xff")
UTF8_BOM = b"\xef\xbb\xbf"
# Bytes of a file's head that text never holds: C0 controls but tab and line breaks, and DEL.
CONTROL_BYTES = frozenset([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
MAX_HEAD_CONTROL_SHARE = 0.01  # of a head's bytes; random bytes hold ~11 %, NUL alone already refuses
# Lines with control characters a run may hold (a share of its distinct lines): a stray one is a
# field's problem (it is published or quarantined like any other), many mean the input is not text.
MAX_CONTROL_LINE_SHARE = 0.01
# Lines with signs of a wrong encoding a run may hold: none. Encodings are per file, and correctly
# decoded ISO-8859-1 or UTF-8 text does not show these sequences (the real file has none).
MAX_MOJIBAKE_LINES = 0
SAMPLE_CHARS = 60  # of a first line or an example quoted in a message
MAX_FILES_NAMED = 5  # file problems listed in the gate's message; the count is always exact
# What a dominant quarantine reason most likely means.
REASON_HINTS = {
    "bad_invoice_date": "check --date_format ({date_format!r})",
    "wrong_field_count": "is it the Online Retail CSV (8 comma-separated fields)?",
    "malformed_csv": "is it the Online Retail CSV (8 comma-separated fields)?",
}


def _sample(text: str) -> str:
    return repr(text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS] + "...")


def _file_name(uri: str, input_uri: str) -> str:
    """A file as messages name it: relative to the input folder when it is in it."""
    prefix = input_uri.rstrip("/") + "/"
    return uri[len(prefix):] if uri.startswith(prefix) else uri.rsplit("/", 1)[-1]


def _python_codec(encoding: str) -> str:
    return "latin-1" if encoding.upper() == "ISO-8859-1" else "utf-8"


def _looks_like_data(line: str) -> bool:
    """A line of eight or more fields whose first is an invoice number (`536365`, `C536379`)."""
    invoice_no = line.split(",", 1)[0].strip().strip('"')
    numbered = invoice_no[:1].isdigit() or (invoice_no[:1] in ("C", "A") and invoice_no[1:2].isdigit())
    return numbered and len(line.split(",")) >= len(RAW_FIELDS)


def file_problem(head: readers.FileHead, encoding: str, name: str | None = None) -> str | None:
    """Why one input file is not plausible raw input, judged by its head (`readers.read_file_heads`); None if it is.

    Checked in order: readable, not empty, not compressed or UTF-16 bytes read as text, no NUL and
    few control bytes, no UTF-8 byte order mark under ISO-8859-1, and a first line that is the header
    (compared as `readers.header_key` does, after a BOM under UTF-8).
    """
    name = name or head.uri
    data = head.data
    if head.error:
        return f"{INPUT_TEXT} ({name}: cannot be read: {head.error})"
    if not data:
        return f"{INPUT_HEADER} ({name}: empty, no header line)"
    for magic, advice in COMPRESSED_MAGIC:
        if data.startswith(magic):
            return f"{INPUT_TEXT} ({name}: {advice})"
    if data.startswith(UTF16_BOMS):
        return f"{INPUT_TEXT} ({name}: UTF-16 text: save it as UTF-8 or ISO-8859-1)"
    controls = sum(1 for byte in data if byte in CONTROL_BYTES)
    if b"\x00" in data or controls > MAX_HEAD_CONTROL_SHARE * len(data):
        return f"{INPUT_TEXT} ({name}: not text, {controls:,} control bytes (NUL, ...) in its first {len(data):,})"
    first_line = data.splitlines()[0] if data.splitlines() else b""
    if encoding.upper() == "ISO-8859-1" and first_line.startswith(UTF8_BOM):
        return f"{INPUT_HEADER} ({name}: starts with a UTF-8 byte order mark: read it with --encoding UTF-8)"
    text = first_line.decode(_python_codec(encoding), errors="replace").removeprefix("\ufeff")
    if readers.header_key(text) == readers.HEADER_KEY:
        return None
    if _looks_like_data(text):
        return (f"{INPUT_HEADER} ({name}: no header line, its first line is data {_sample(text)}: "
                f"a file must start with {RAW_HEADER})")
    return f"{INPUT_HEADER} ({name}: first line {_sample(text)} is not the header {RAW_HEADER})"


def input_problems(input_uri: str, heads: Sequence[readers.FileHead], encoding: str) -> list[str]:
    """The input's problems before it is read: no files, or files that are not text with the raw header."""
    if not heads:
        return [f"{INPUT_FILES} (no files at {input_uri})"]
    problems = [p for p in (file_problem(h, encoding, _file_name(h.uri, input_uri)) for h in heads) if p]
    if len(problems) > MAX_FILES_NAMED:
        more = len(problems) - MAX_FILES_NAMED
        problems = [*problems[:MAX_FILES_NAMED], f"{INPUT_FILES} ({more:,} more of the {len(heads):,} files)"]
    return problems


def _lines(count: int) -> str:
    return f"{count:,} line" if count == 1 else f"{count:,} lines"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "0%"


def _top_reasons(report: RunReport, date_format: str) -> str:
    ranked = sorted(report.quarantined_by_reason.items(), key=lambda item: (-item[1], item[0]))
    listed = ", ".join(f"{reason} {count:,}" for reason, count in ranked[:3])
    hint = REASON_HINTS.get(ranked[0][0], "").format(date_format=date_format) if ranked else ""
    return f"{listed}: {hint}" if hint else listed


def _encoding_advice(encoding: str, example: str | None) -> str:
    if encoding.upper() == "ISO-8859-1":
        return "it looks like UTF-8 read as ISO-8859-1: read it with --encoding UTF-8"
    if example and "\ufffd" in example:
        return "it is not valid UTF-8: read it with --encoding ISO-8859-1"
    return "the text was garbled before it was written (UTF-8 decoded as ISO-8859-1 upstream)"


def count_problems(report: RunReport, limits: PlausibilityLimits, encoding: str, date_format: str,
                   now: datetime) -> list[str]:
    """The plausibility of a run by the counts its staging pass observed (`report.run_metrics`); no Spark job.

    Args:
        report: the filled run report.
        limits: `--max_quarantine_share` and the invoice-date window.
        encoding, date_format: the run's, for advice in the messages.
        now: the gate's clock (relative bounds such as `now+1d` count from it).
    """
    if report.rows_read == 0:
        return [f"{ROWS_READ} (the input holds no data lines, only a header or nothing)"]
    lines = report.distinct_lines
    problems = []
    # First what explains the rest: a wrong encoding or non-text input also shows as quarantined lines.
    if report.mojibake_lines > MAX_MOJIBAKE_LINES:
        example = f", e.g. {_sample(report.mojibake_example)}" if report.mojibake_example else ""
        problems.append(f"{TEXT_ENCODING} ({_lines(report.mojibake_lines)} with signs of a wrong encoding "
                        f"(Ã, Â£, U+FFFD){example}: {_encoding_advice(encoding, report.mojibake_example)})")
    if report.control_char_lines > MAX_CONTROL_LINE_SHARE * lines:
        problems.append(f"{TEXT_CONTROL} ({report.control_char_lines:,} of {_lines(lines)} with control "
                        f"characters (NUL, ...): the input is not a text CSV)")
    if report.rows_curated == 0:
        problems.append(f"{ROWS_CURATED} (none of the {_lines(lines)} is valid; quarantined: "
                        f"{_top_reasons(report, date_format)})")
    elif report.rows_quarantined > limits.max_quarantine_share * lines:
        problems.append(f"{QUARANTINE_SHARE} ({_share(report.rows_quarantined, lines)} of {_lines(lines)} "
                        f"quarantined, above --max_quarantine_share {limits.max_quarantine_share:g}; "
                        f"{_top_reasons(report, date_format)})")
    earliest, latest = limits.invoice_window(now)
    first = datetime.fromisoformat(report.invoice_ts_min) if report.invoice_ts_min else None
    last = datetime.fromisoformat(report.invoice_ts_max) if report.invoice_ts_max else None
    outside = []
    if first is not None and first < earliest:
        outside.append(f"earliest {first:%Y-%m-%d %H:%M} is before --min_invoice_date {limits.min_invoice_date}")
    if last is not None and last >= latest:
        # A relative bound is an instant: say which; a fixed day is the whole day.
        instant = f" ({latest:%Y-%m-%d %H:%M})" if limits.max_invoice_date.day is None else ""
        outside.append(f"latest {last:%Y-%m-%d %H:%M} is after --max_invoice_date {limits.max_invoice_date}{instant}")
    if outside:
        problems.append(f"{INVOICE_DATES} (curated invoice times: {', '.join(outside)}; check --date_format "
                        f"({date_format!r}) or set the bound)")
    return problems


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
            config = outcome.expectation_config
            assert config is not None  # a suite's results name their expectation
            name = names.get(config.id) or config.type
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


def read_staged_curated(spark: SparkSession, staged: iceberg.StagedTable) -> DataFrame:
    """The rows of the touched partitions on the run's audit branch, with the table's own schema.

    What readers will see once the branch is published, not what the run meant to write: a table
    made with other types (an older version's) fails the schema checks rather than passing them
    vacuously. Nothing staged: an empty frame of the contract.
    """
    if not staged.partitions:
        return spark.createDataFrame([], CURATED_SCHEMA)
    return iceberg.read_table(spark, staged.table, staged.branch, staged.touched)


class QualityGate:
    """The batch job's gate (`pipelines.staged.QualityGate` protocol): plausible input, then the staged partitions.

    `check_input` judges the input files before the run reads them; calling the gate judges the
    staged run: its observed counts (`count_problems`), then, if they are plausible, the suite.
    Each fills the report's `quality` and raises QualityGateError naming the failed checks.
    """

    def __init__(self) -> None:
        self.last_report: RunReport | None = None  # the report of the last audited run, for failure handling
        self._input_seconds = 0.0
        # Importing great-expectations takes seconds; do it while Spark stages the run.
        threading.Thread(target=importlib.import_module, args=("great_expectations",), daemon=True,
                         name="import-great-expectations").start()

    def check_input(self, spark: SparkSession, config: BatchConfig, run_id: str) -> None:
        """Refuse input whose files are not text starting with the raw header, before a Spark job reads them.

        Raises:
            QualityGateError: a file is not plausible raw input (the report names it).
            InputError: the input path does not exist.
        """
        started = time.monotonic()
        self.last_report = RunReport(run_id=run_id, input=config.input_uri, lake=config.lake_uri)
        files = list(config.input_files) or readers.list_input_files(spark, config.input_uri)
        heads = readers.read_file_heads(spark, files)
        failed = input_problems(config.input_uri, heads, config.encoding)
        self._input_seconds = time.monotonic() - started
        log.info("quality gate: %d input files checked in %.1fs, %d problems", len(heads), self._input_seconds,
                 len(failed))
        if failed:
            self._fail(QualityResult(success=False, evaluated=len(INPUT_CHECKS), failed=tuple(failed),
                                     seconds=round(self._input_seconds, 3), checks=INPUT_CHECKS))

    def __call__(self, spark: SparkSession, staged_run: StagedRun) -> None:
        self.last_report = report = staged_run.report
        config = staged_run.config
        started = time.monotonic()
        checks = (*INPUT_CHECKS, *COUNT_CHECKS)
        failed = count_problems(report, config.plausibility, config.encoding, config.rules.date_format,
                                datetime.now(UTC))
        if not failed:
            # Plausible input: the suite on the staged partitions.
            df = read_staged_curated(spark, staged_run.curated)
            suite = validate_curated(df, min_rows=report.rows_curated, report=report)
            checks, failed = (*checks, *suite.checks), list(suite.failed)
        seconds = round(self._input_seconds + time.monotonic() - started, 3)
        result = QualityResult(success=not failed, evaluated=len(checks), failed=tuple(failed), seconds=seconds,
                               checks=checks)
        if failed:
            self._fail(result)
        report.quality = result.to_report()
        log.info("quality gate passed: %d checks in %.1fs", result.evaluated, result.seconds)

    def _fail(self, result: QualityResult) -> None:
        assert self.last_report is not None  # set by check_input or __call__ before any check runs
        self.last_report.quality = result.to_report()
        log.info("quality gate FAILED: %d checks, %d failed in %.1fs", result.evaluated, len(result.failed),
                 result.seconds)
        raise QualityGateError(list(result.failed))

