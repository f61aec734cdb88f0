"""Pure `DataFrame -> DataFrame` transforms of the cleaning pipeline.

A row flows: raw line -> `parse_raw_lines` (CSV syntax, field count) -> `type_fields`
(trim, types, reason) -> `with_line_type` -> `with_record_id` -> `with_partitions`
-> `drop_duplicate_lines`; then `to_curated` / `to_quarantine` state the output contracts.
The streaming path enters at `type_fields` with the same raw field columns, so both paths
clean a line the same way and give it the same `record_id`.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecomflow.config import CleaningRules
from ecomflow.contract import FORBIDDEN_CHARACTERS, INVOICE_NO, MAX_BYTES, RAW_FIELDS, STOCK_CODE
from ecomflow.spark.columns import (
    blank_as_null,
    csv_fields,
    first_failing,
    is_plain_text,
    is_well_formed_csv,
    to_customer_id,
    to_int_strict,
    to_price,
    unquote_csv_field,
)
from ecomflow.spark.schemas import (
    CURATED_COLUMNS,
    PRICE_TYPE,
    QUARANTINE_COLUMNS,
    REVENUE_TYPE,
)

FIELD_SEPARATOR = "\u001f"  # cannot occur in a CSV line, so the hash input is unambiguous


def parse_raw_lines(lines: DataFrame) -> DataFrame:
    """Split `raw_line` into the eight raw fields; a line that is not 8 CSV fields gets `parse_error`.

    Spark's CSV reader silently pads short records and drops extra fields, so the syntax and
    the field count are checked here on the line itself.
    """
    has_quotes = F.col("raw_line").contains('"')
    # Most lines have no quotes: a plain split is exact for them and far cheaper than the grammar.
    fields = F.when(has_quotes, csv_fields(F.col("raw_line"))).otherwise(F.split(F.col("raw_line"), ",", -1))
    parsed = lines.withColumn("_fields", fields)
    parse_error = (
        F.when(has_quotes & ~is_well_formed_csv(F.col("raw_line")), F.lit("malformed_csv"))
        .when(F.size("_fields") != len(RAW_FIELDS), F.lit("wrong_field_count"))
    )
    parsed = parsed.withColumn("parse_error", parse_error)
    raw_columns = [
        F.when(F.col("parse_error").isNull(), unquote_csv_field(F.element_at("_fields", i + 1))).alias(name)
        for i, name in enumerate(RAW_FIELDS)
    ]
    return parsed.select("*", *raw_columns).drop("_fields")


def type_fields(raw: DataFrame, rules: CleaningRules) -> DataFrame:
    """Normalise and type the raw fields, and name the first rule a line breaks in `reason`.

    Expects the raw string columns of `RAW_FIELDS` and optionally `parse_error`; keeps every
    other column. A valid line has a null `reason`.
    """
    if "parse_error" not in raw.columns:
        raw = raw.withColumn("parse_error", F.lit(None).cast(T.StringType()))
    # Nearly every line is plain ASCII (`is_plain_text`, one regex per line): its fields need only
    # Spark's cheap trim and cannot hold a forbidden character. Without the line, every field pays.
    plain = is_plain_text(F.col("raw_line")) if "raw_line" in raw.columns else F.lit(False)
    texts = [blank_as_null(F.col(name), plain) for name in RAW_FIELDS]
    customer_text = texts[6]
    # Spark resolves names case-insensitively, so the raw fields (`Quantity`) are not kept next
    # to the typed ones (`quantity`).
    passthrough = [c for c in raw.columns if c not in RAW_FIELDS]
    typed = raw.select(
        *passthrough,
        texts[0].alias("invoice_no"),
        F.upper(texts[1]).alias("stock_code"),
        texts[2].alias("description"),
        to_int_strict(texts[3]).alias("quantity"),
        to_price(texts[5]).alias("unit_price"),
        F.to_timestamp(texts[4], rules.date_format).alias("invoice_ts"),
        customer_text.alias("_customer_text"),
        to_customer_id(customer_text).alias("customer_id"),
        texts[7].alias("country"),
        # The contract's forbidden characters, after trimming (a trailing tab is whitespace).
        (~plain & F.concat_ws("", *texts).rlike(FORBIDDEN_CHARACTERS)).alias("_bad_characters"),
    ).withColumn("revenue", (F.col("quantity") * F.col("unit_price")).cast(REVENUE_TYPE))

    is_adjustment = F.col("invoice_no").startswith("A")
    rules_broken = first_failing([
        ("bad_characters", F.col("_bad_characters")),
        ("missing_invoice_no", F.col("invoice_no").isNull()),
        ("bad_invoice_no", ~F.col("invoice_no").rlike(INVOICE_NO)),
        ("missing_stock_code", F.col("stock_code").isNull()),
        ("bad_stock_code", ~F.col("stock_code").rlike(STOCK_CODE)),
        ("description_too_long", F.octet_length("description") > MAX_BYTES["Description"]),
        ("missing_country", F.col("country").isNull()),
        ("country_too_long", F.octet_length("country") > MAX_BYTES["Country"]),
        ("bad_quantity", F.col("quantity").isNull()),
        ("zero_quantity", F.col("quantity") == 0),
        ("bad_unit_price", F.col("unit_price").isNull()),
        ("negative_price", (F.col("unit_price") < 0) & ~is_adjustment),
        ("bad_invoice_date", F.col("invoice_ts").isNull()),
        ("bad_customer_id", F.col("_customer_text").isNotNull() & F.col("customer_id").isNull()),
        ("revenue_overflow", F.col("revenue").isNull()),
    ])
    return (
        typed.withColumn("reason", F.coalesce(F.col("parse_error"), rules_broken))
        .drop("_customer_text", "_bad_characters", "parse_error")
    )


def line_type(invoice_no: Column, stock_code: Column, quantity: Column, service_codes: tuple[str, ...]) -> Column:
    """The line type of the data contract: the first of cancellation, adjustment, stock_adjustment, service, sale."""
    return (
        F.when(invoice_no.startswith("C"), F.lit("cancellation"))
        .when(invoice_no.startswith("A"), F.lit("adjustment"))
        .when(quantity < 0, F.lit("stock_adjustment"))
        .when(stock_code.isin(*service_codes), F.lit("service"))
        .otherwise(F.lit("sale"))
    )


def with_line_type(lines: DataFrame, rules: CleaningRules) -> DataFrame:
    """Add `line_type` (null on quarantined lines)."""
    kind = line_type(F.col("invoice_no"), F.col("stock_code"), F.col("quantity"), rules.service_codes)
    return lines.withColumn("line_type", F.when(F.col("reason").isNull(), kind))


def canonical_line(columns: list[Column]) -> Column:
    """The normalised text of a line that its id hashes: fields joined by a unit separator."""
    return F.concat_ws(FIELD_SEPARATOR, *[F.coalesce(c, F.lit("")) for c in columns])


def with_record_id(lines: DataFrame) -> DataFrame:
    """Add `record_id` (sha-256 of the normalised line) on valid lines and `quarantine_id` on bad ones.

    The hash covers the typed values, so the same line gives the same id whether it came from
    a CSV file or a JSON record, with or without stray whitespace.
    """
    canonical = canonical_line([
        F.col("invoice_no"),
        F.col("stock_code"),
        F.col("description"),
        F.col("quantity").cast(T.StringType()),
        F.col("unit_price").cast(T.StringType()),
        F.date_format("invoice_ts", "yyyy-MM-dd HH:mm:ss"),
        F.col("customer_id"),
        F.col("country"),
    ])
    is_valid = F.col("reason").isNull()
    return lines.withColumn("record_id", F.when(is_valid, F.sha2(canonical, 256))).withColumn(
        "quarantine_id", F.when(~is_valid, F.sha2(F.col("raw_line"), 256))
    )


def without_raw_text_of_valid_lines(lines: DataFrame) -> DataFrame:
    """Keep `raw_line` only where the quarantine needs it: valid lines are their typed values.

    Run after `with_record_id` (the quarantine id hashes the raw text); it spares the dedupe
    shuffle and the run's files the raw text of every good line.
    """
    return lines.withColumn("raw_line", F.when(F.col("reason").isNotNull(), F.col("raw_line")))


def with_partitions(lines: DataFrame) -> DataFrame:
    """Add the `year` and `month` partition columns from `invoice_ts`."""
    return lines.withColumn("year", F.year("invoice_ts")).withColumn("month", F.month("invoice_ts"))


def with_lineage(lines: DataFrame, source: Column | str, ingested_at: datetime) -> DataFrame:
    """Add `source` (where the line came from) and `ingested_at` (when this run read it)."""
    source_column = F.lit(source) if isinstance(source, str) else source
    return lines.withColumn("source", source_column).withColumn(
        "ingested_at", F.lit(ingested_at).cast(T.TimestampType())
    )


def classify_lines(raw: DataFrame, rules: CleaningRules) -> DataFrame:
    """Raw fields to typed, classified lines with their ids: the shared core of batch and streaming."""
    return (
        raw.transform(type_fields, rules)
        .transform(with_line_type, rules)
        .transform(with_record_id)
        .transform(without_raw_text_of_valid_lines)
        .transform(with_partitions)
    )


def duplicate_group(raw_line: Column) -> Column:
    """A cheap key of a raw line that is equal for any two lines `drop_duplicate_lines` may merge.

    The invoice number as written: the text before the first comma, quotes removed, trimmed. Two
    valid lines with the same `record_id` have the same `invoice_no`, which is that field trimmed
    and unquoted (a quoted number with a comma inside still gives the same prefix); two bad lines
    are merged only when their text is equal. So hash-partitioning the raw lines by this key puts
    every set of duplicates in one partition, and the dedupe needs no second shuffle.
    """
    return F.trim(F.translate(F.substring_index(raw_line, ",", 1), '"', ""))


def drop_duplicate_lines(lines: DataFrame, order_by: str = "line_no", within: str | None = None) -> DataFrame:
    """Keep the first of each set of exact duplicate lines; `line_count` says how many there were.

    Valid lines are duplicates when their `record_id` is equal, bad lines when their raw text is.
    The first one by `order_by` is kept, so lineage points at the earliest occurrence.

    Args:
        within: a column (dropped from the result) that is equal for all duplicates of a line, such
            as `duplicate_group`; when the lines are already hash-partitioned by it, the dedupe
            runs where the lines are, without shuffling them again.
    """
    keys = [F.col("_key")] if within is None else [F.col(within), F.col("_key")]
    in_order = Window.partitionBy(*keys).orderBy(F.col(order_by))
    every_copy = in_order.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    # A window rather than min(struct(...)) over groups: one sort of the rows, no struct comparisons.
    return (
        lines.withColumn("_key", F.coalesce(F.col("record_id"), F.col("quarantine_id")))
        .withColumn("_nth", F.row_number().over(in_order))
        .withColumn("line_count", F.count(F.lit(1)).over(every_copy).cast(T.IntegerType()))
        .where(F.col("_nth") == 1)
        .drop("_key", "_nth", order_by, *([within] if within else []))
    )


def to_curated(lines: DataFrame) -> DataFrame:
    """The valid lines, in the curated `sales` contract."""
    return lines.where(F.col("reason").isNull()).select(
        "record_id",
        "invoice_no",
        "stock_code",
        "description",
        "quantity",
        F.col("unit_price").cast(PRICE_TYPE).alias("unit_price"),
        F.col("revenue").cast(REVENUE_TYPE).alias("revenue"),
        "invoice_ts",
        "customer_id",
        "country",
        "line_type",
        "source",
        "ingested_at",
        F.col("year").cast(T.IntegerType()).alias("year"),
        F.col("month").cast(T.IntegerType()).alias("month"),
    ).select(*CURATED_COLUMNS)


def to_quarantine(lines: DataFrame) -> DataFrame:
    """The lines that broke a rule: raw text, reason and lineage."""
    return lines.where(F.col("reason").isNotNull()).select(*QUARANTINE_COLUMNS)
