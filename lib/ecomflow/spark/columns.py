"""`Column -> Column` helpers: small, pure, built-in functions only (no UDFs)."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecomflow.contract import (
    CSV_FIELD_AFTER_SEPARATOR,
    CSV_LINE,
    CSV_QUOTED_FIELD,
    CUSTOMER_ID,
    INT_MAX,
    INT_MIN,
    INTEGER,
    PRICE,
    WHITESPACE,
)

# UTF-8 bytes decoded as ISO-8859-1: a lead byte (C2..F4: Â, Ã, â, ...) before a continuation byte
# (80..BF: £ is A3, © A9), as in `Â£` or `Ã©`; or U+FFFD, what a decoder puts for bytes that are not
# UTF-8. Real ISO-8859-1 text (the Online Retail file included) shows neither.
MOJIBAKE = r"[\u00C2-\u00F4][\u0080-\u00BF]|\uFFFD"
# C0 control characters but tab (line breaks never reach a line) and DEL: text files hold none.
CONTROL_CHARACTER = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]"


def is_well_formed_csv(line: Column) -> Column:
    """True where `line` is a syntactically valid CSV record (balanced, properly escaped quotes)."""
    return line.rlike(CSV_LINE)


def csv_fields(line: Column) -> Column:
    """Split a well-formed CSV record into its fields, still quoted as written.

    A comma is put in front so every field match is non-empty: Java's matcher skips a
    character after an empty match, which would swallow the comma after an empty first field.
    """
    return F.regexp_extract_all(F.concat(F.lit(","), line), F.lit(CSV_FIELD_AFTER_SEPARATOR), F.lit(1))


def unquote_csv_field(field: Column) -> Column:
    """Remove the surrounding quotes of a quoted CSV field and unescape doubled quotes."""
    is_quoted = field.startswith('"')
    inner = F.regexp_replace(F.regexp_extract(field, CSV_QUOTED_FIELD, 1), '""', '"')
    return F.when(is_quoted, inner).otherwise(field)


def trim_text(text: Column) -> Column:
    """`text` without the contract's whitespace at either end (`contract.trim` in Python)."""
    return F.btrim(text, F.lit(WHITESPACE))


def is_ascii(text: Column) -> Column:
    """True where `text` is plain ASCII (as many characters as UTF-8 bytes: counted, not decoded)."""
    return F.octet_length(text) == F.length(text)


def has_mojibake(text: Column) -> Column:
    """True where `text` shows signs of a wrong encoding (`MOJIBAKE`); null where it is null.

    ASCII text (nearly every line) is settled by `is_ascii` without running the regex.
    """
    return ~is_ascii(text) & text.rlike(MOJIBAKE)


def has_control_characters(text: Column) -> Column:
    """True where `text` holds a control character other than tab (NUL included); null where it is null."""
    return text.rlike(CONTROL_CHARACTER)


def blank_as_null(text: Column, plain: Column | None = None) -> Column:
    """Trim `text` (the contract's whitespace rule); an empty result is null.

    `plain`: true where the text is known to be ASCII without control characters (`is_plain_text`
    of the line it came from). Its only whitespace is then the space, so Spark's cheap `trim` gives
    what `trim_text` would; the contract's trim costs ~0.1 s a field on the real file.
    """
    trimmed = trim_text(text) if plain is None else F.when(plain, F.trim(text)).otherwise(trim_text(text))
    return F.when(trimmed == "", F.lit(None).cast(T.StringType())).otherwise(trimmed)


# ASCII control characters and the backslash (a JSON record escapes any other character with it).
_NOT_PLAIN_ASCII = r"[\u0000-\u001f\u007f\\]"


def is_plain_text(line: Column) -> Column:
    """True where `line` is ASCII without control characters and backslashes.

    Every character of a field comes from its line (a CSV line, or a JSON record, which can spell
    other characters only as backslash escapes), so on a plain line no field can hold the
    contract's forbidden characters or any whitespace but the space.
    """
    return (F.octet_length(line) == F.length(line)) & ~line.rlike(_NOT_PLAIN_ASCII)


def to_int_strict(text: Column) -> Column:
    """Parse an integer written as digits; null for anything else or outside the int range."""
    as_long = F.when(text.rlike(INTEGER), text.cast(T.LongType()))
    in_range = as_long.between(INT_MIN, INT_MAX)
    return F.when(in_range, as_long.cast(T.IntegerType()))


def to_price(text: Column) -> Column:
    """Parse a decimal price exactly into decimal(12,3); null when it does not fit or is not a number."""
    return F.when(text.rlike(PRICE), text.cast(T.DecimalType(12, 3)))


def to_customer_id(text: Column) -> Column:
    """Customer ids as digits only: `17850` and `17850.0` both give `17850`; anything else is null."""
    # One regex: regexp_extract gives "" where the pattern does not match (the digits never are empty).
    return F.nullif(F.regexp_extract(text, CUSTOMER_ID, 1), F.lit(""))


def first_failing(rules: list[tuple[str, Column]]) -> Column:
    """The name of the first rule whose condition is true, or null when none is."""
    result = F.lit(None).cast(T.StringType())
    for name, failed in reversed(rules):
        result = F.when(failed, F.lit(name)).otherwise(result)
    return result
