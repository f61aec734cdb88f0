"""The synthetic raw file: deterministic, the real file's byte layout, its dirt at calibrated rates."""

from __future__ import annotations

import csv
import gzip
import re
from datetime import datetime
from pathlib import Path

import pytest

from ecomflow.cli.main import main as cli_main
from ecomflow.config import DEFAULT_MAX_QUARANTINE_SHARE
from ecomflow.contract import RAW_HEADER
from ecomflow.devtools.generate import MALFORMED_KINDS, REAL_PROFILE, generate_file, price_text
from ecomflow.devtools.raw_profile import profile_file

ROWS = 20_000
DATE = re.compile(r"^([1-9]|1[0-2])/([1-9]|[12]\d|3[01])/(2010|2011) ([1-9]?\d):[0-5]\d$")
SHORTEST_PRICE = re.compile(r"^-?(0|[1-9]\d*)(\.\d?[1-9])?$")

# Rates of a 20k-row file against the real file's (REAL_PROFILE): (relative tolerance, absolute slack).
# Invoices come in clusters (a sale without a customer has ~90 lines), so 20k rows (~1,000 invoices)
# spread around the real rates; these bounds hold across seeds with room to spare.
RATE_TOLERANCES = {
    "cancellation": (0.5, 0.0),
    "stock_adjustment": (0.6, 0.0),
    "service": (0.5, 0.0),
    "zero_price": (0.6, 0.0),
    "missing_customer": (0.35, 0.0),
    "exact_duplicate": (0.4, 0.0),
    "repeated_pair": (0.3, 0.0),
    "lowercase_stock_code": (0.6, 0.0),
    "quoted_description": (0.6, 0.0),
    "trailing_space_description": (0.25, 0.0),
}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    path = tmp_path_factory.mktemp("generate") / "sample.csv"
    return path, generate_file(str(path), rows=ROWS, seed=7)


@pytest.fixture(scope="module")
def sample_profile(sample: tuple[Path, object]) -> dict:
    return profile_file(str(sample[0]))


def data_lines(path: Path) -> list[str]:
    return path.read_bytes().decode("latin-1").split("\n")[1:-1]


def valid_rows(path: Path) -> list[list[str]]:
    """The fields of the lines that are not malformed, each line parsed on its own as the reader does."""
    rows = []
    for line in data_lines(path):
        if line.count('"') % 2:
            continue
        fields = next(csv.reader([line]))
        if len(fields) != 8 or not all(fields[i] for i in (0, 1, 7)):
            continue
        if not re.match(r"^-?\d+$", fields[3]) or fields[3] == "0":
            continue
        try:
            datetime.strptime(fields[4], "%m/%d/%Y %H:%M")
        except ValueError:
            continue
        rows.append(fields)
    return rows


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    generate_file(str(first), rows=3000, seed=11)
    generate_file(str(second), rows=3000, seed=11)
    assert first.read_bytes() == second.read_bytes()


def test_different_seeds_give_different_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    generate_file(str(first), rows=3000, seed=11)
    generate_file(str(second), rows=3000, seed=12)
    assert first.read_bytes() != second.read_bytes()


def test_gzip_output_is_deterministic_and_holds_the_same_text(tmp_path: Path) -> None:
    plain, packed, again = tmp_path / "a.csv", tmp_path / "a.csv.gz", tmp_path / "b.csv.gz"
    for path in (plain, packed, again):
        generate_file(str(path), rows=2000, seed=5)
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    assert packed.read_bytes() == again.read_bytes()
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()


@pytest.mark.parametrize("rows", [0, 1, 7, 999, 20_000])
def test_rows_is_honoured_exactly(tmp_path: Path, rows: int) -> None:
    path = tmp_path / "rows.csv"
    stats = generate_file(str(path), rows=rows, seed=3)
    assert len(data_lines(path)) == rows
    assert stats.rows == rows


def test_header_line_endings_and_encoding(sample: tuple[Path, object]) -> None:
    raw = sample[0].read_bytes()
    assert raw.startswith((RAW_HEADER + "\n").encode("ascii"))
    assert b"\r" not in raw
    assert raw.endswith(b"\n")
    non_ascii = {byte for byte in raw if byte > 0x7F}
    assert non_ascii == {0xA3}  # the pound sign, in latin-1, as in the real file
    assert re.search(rb"Gift Voucher \xa3\d+\.00", raw)


def test_valid_lines_have_the_real_field_formats(sample: tuple[Path, object]) -> None:
    rows = valid_rows(sample[0])
    dates = [fields[4] for fields in rows]
    prices = [fields[5] for fields in rows]
    customers = [fields[6] for fields in rows]
    assert all(DATE.match(d) for d in dates)
    assert all(SHORTEST_PRICE.match(p) for p in prices if p != "0.001"), "prices in their shortest form"
    assert {"18", "50"} <= set(prices)  # whole-pound prices are written without decimals
    assert any(re.match(r"^\d+\.\d$", p) for p in prices)
    assert all(c == "" or c.isdigit() or re.match(r"^\d+\.0$", c) for c in customers)


def test_price_text_is_shortest_form() -> None:
    assert [price_text(c) for c in (1800, 210, 255, 5, 0, -1106206)] == ["18", "2.1", "2.55", "0.05", "0", "-11062.06"]


def test_descriptions_with_commas_and_quotes_are_csv_quoted(sample: tuple[Path, object]) -> None:
    quoted = [line for line in data_lines(sample[0]) if '"' in line and line.count('"') % 2 == 0]
    assert quoted
    for line in quoted:
        fields = next(csv.reader([line]))
        assert len(fields) == 8
        assert "," in fields[2] or '"' in fields[2]


def test_an_invoice_has_one_date_customer_and_country(sample: tuple[Path, object]) -> None:
    headers: dict[str, tuple[str, str, str]] = {}
    for fields in valid_rows(sample[0]):
        header = (fields[4], fields[6].removesuffix(".0"), fields[7])
        assert headers.setdefault(fields[0], header) == header


def test_invoice_numbers_and_kinds(sample: tuple[Path, object]) -> None:
    rows = valid_rows(sample[0])
    numbers = {fields[0] for fields in rows}
    assert all(re.match(r"^[CA]?\d{6}$", n) for n in numbers)
    assert all(int(f[3]) < 0 for f in rows if f[0].startswith("C"))
    assert all(f[5].startswith("-") and f[1] == "B" for f in rows if f[0].startswith("A"))
    stock_adjustments = [f for f in rows if f[0].isdigit() and f[3].startswith("-")]
    assert stock_adjustments and all(f[6] == "" for f in stock_adjustments)


def test_every_kind_of_dirt_is_present(sample: tuple[Path, object]) -> None:
    stats = sample[1]
    assert all(stats.line_types[kind] > 0 for kind in
               ("sale", "cancellation", "adjustment", "stock_adjustment", "service"))
    assert all(stats.malformed[kind] > 0 for kind in MALFORMED_KINDS)
    for count in (stats.duplicate_lines, stats.missing_customer_lines, stats.zero_price_lines,
                  stats.repeated_pair_lines, stats.lowercase_stock_codes, stats.quoted_descriptions,
                  stats.trailing_space_descriptions, stats.pound_sign_lines, stats.float_customer_ids):
        assert count > 0
    service_codes = {fields[1].upper() for fields in valid_rows(sample[0])}
    assert {"POST", "DOT", "M"} <= service_codes


def test_stats_account_for_every_row(sample: tuple[Path, object]) -> None:
    stats = sample[1]
    assert sum(stats.line_types.values()) + stats.duplicate_lines + stats.malformed_lines == ROWS


def test_stats_agree_with_the_profile_of_the_file(sample: tuple[Path, object], sample_profile: dict) -> None:
    stats, counts = sample[1], sample_profile["counts"]
    assert counts["exact_duplicate"] == stats.duplicate_lines
    assert counts["malformed"] == stats.malformed_lines
    assert counts["float_customer_id"] == stats.float_customer_ids
    assert counts["missing_customer"] == stats.missing_customer_lines
    assert counts["pound_sign"] == stats.pound_sign_lines
    assert counts["lowercase_stock_code"] == stats.lowercase_stock_codes


@pytest.mark.parametrize("name", sorted(RATE_TOLERANCES))
def test_dirt_rates_are_near_the_real_ones(sample_profile: dict, name: str) -> None:
    relative, slack = RATE_TOLERANCES[name]
    real, generated = REAL_PROFILE[name], sample_profile["rates"][name]
    assert abs(generated - real) <= relative * real + slack, f"{name}: generated {generated}, real {real}"


def test_malformed_rate_is_small_and_configurable(tmp_path: Path, sample_profile: dict) -> None:
    assert 0 < sample_profile["rates"]["malformed"] <= 0.0005
    path = tmp_path / "dirty.csv"
    stats = generate_file(str(path), rows=5000, seed=1, malformed_rate=0.01)
    assert stats.malformed_lines + stats.float_customer_ids == 50
    clean = generate_file(str(tmp_path / "clean.csv"), rows=5000, seed=1, malformed_rate=0.0)
    assert clean.malformed_lines == 0 and clean.float_customer_ids == 0


def test_default_dirt_stays_well_under_the_gates_quarantine_limit(sample: tuple[Path, object]) -> None:
    # Malformed lines are the only ones the pipeline quarantines (the demo runs the gate with its defaults).
    _, stats = sample
    assert 0 < stats.malformed_lines / ROWS < DEFAULT_MAX_QUARANTINE_SHARE / 10


def test_shape_of_the_data(sample_profile: dict) -> None:
    assert 15 <= sample_profile["lines_per_invoice"] <= 28
    assert abs(sample_profile["uk_share"] - REAL_PROFILE["uk_share"]) <= 0.04
    assert sample_profile["countries"] >= 10
    assert "2010-12-01" <= sample_profile["date_min"] < "2011-01-01"
    assert "2011-11-25" <= sample_profile["date_max"] < "2011-12-10"
    assert sample_profile["saturday_lines"] == 0
    assert min(sample_profile["hours"]) >= 6 and max(sample_profile["hours"]) <= 20


def test_cli_generate_prints_the_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cli.csv.gz"
    assert cli_main(["generate", "--rows", "500", "--seed", "9", "--out", str(path)]) == 0
    assert '"rows": 500' in capsys.readouterr().out
    assert len(gzip.decompress(path.read_bytes()).split(b"\n")) == 502


@pytest.mark.realdata
def test_generated_profile_matches_the_real_file(real_data: Path, tmp_path: Path) -> None:
    real = profile_file(str(real_data))
    path = tmp_path / "big.csv.gz"
    generate_file(str(path), rows=100_000, seed=2024)
    generated = profile_file(str(path))
    for name, (relative, slack) in RATE_TOLERANCES.items():
        real_rate, rate = real["rates"][name], generated["rates"][name]
        assert abs(rate - real_rate) <= relative * real_rate + slack, f"{name}: generated {rate}, real {real_rate}"
    assert real["rates"]["malformed"] == 0.0
    assert abs(generated["lines_per_invoice"] - real["lines_per_invoice"]) <= 3
    assert abs(generated["uk_share"] - real["uk_share"]) <= 0.03
    assert {k: real["rates"][k] for k in REAL_PROFILE if k in real["rates"]} == pytest.approx(
        {k: REAL_PROFILE[k] for k in REAL_PROFILE if k in real["rates"]}, abs=1e-6)
