"""A deterministic synthetic raw file with the byte layout and dirt profile of the real Online Retail file.

`generate_file(path, rows, seed)` streams `rows` data lines (plus the header) to `path`: the same
seed gives a byte-identical file, `.gz` paths are gzip-compressed (header without a timestamp, so
that holds for them too). Nothing of the real file is copied: the catalogue (stock codes,
descriptions, prices), the customers and the calendar are built from word lists and the rates below.

Shape: invoices of several lines sharing one number, date/time, customer and country, in increasing
number and time order from 2010-12-01 to 2011-12-09 (no Saturdays, a Christmas closure, trading
hours). Dirt: cancellations (`C` + number, negative quantity), stock adjustments (positive number,
negative quantity, no customer, price 0), "found" stock lines (price 0, no customer), adjustments
(`A` + number, stock code B, negative price), service codes, missing customers, exact duplicate
lines within an invoice, the same (InvoiceNo, StockCode) on several distinct lines, lowercase stock
codes, trailing/double spaces, quoted descriptions (commas, inch quotes), the pound sign in gift
voucher descriptions, and a small rate of malformed lines (`MALFORMED_KINDS`) plus valid
`17850.0`-style customer ids.

Rare kinds (adjustments, gift vouchers, each malformed kind) are placed at seeded positions, so a
file of a few thousand rows already shows each of them; everything else is drawn per invoice/line.
"""

from __future__ import annotations

import gzip
import io
import json
import random
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from itertools import accumulate
from typing import TextIO

from ecomflow.config import DEFAULT_SERVICE_CODES
from ecomflow.contract import RAW_HEADER
from ecomflow.errors import ConfigError

# ---------------------------------------------------------------------------------------------
# Calibrated constants. They come from the profile of the real file
# (`python -m ecomflow.devtools.raw_profile ../shared/data/online_retail.csv.gz`, see ecomflow.devtools.raw_profile)
# plus a few conditional counts taken with the same tooling; real values are quoted per line.
# Only rates and shapes are kept here, never rows of the real file.
# ---------------------------------------------------------------------------------------------

# The calibration target: shares of all data lines in the real file (541,909 lines, 25,900 invoices),
# as `ecomflow.devtools.raw_profile.profile_file` reports them (`rates`, plus lines per invoice and UK share).
REAL_PROFILE: dict[str, float] = {
    "cancellation": 0.017139, "adjustment": 0.000006, "stock_adjustment": 0.002465, "service": 0.004298,
    "zero_price": 0.004641, "missing_customer": 0.249267, "exact_duplicate": 0.009721,
    "repeated_pair": 0.019596, "lowercase_stock_code": 0.003648, "quoted_description": 0.011137,
    "trailing_space_description": 0.207832, "pound_sign": 0.000059, "malformed": 0.0,
    "float_customer_id": 0.0, "lines_per_invoice": 20.923, "uk_share": 0.91432,
}

# Invoice kinds, per invoice (real: 25,900 invoices: 3,836 cancellations, 1,336 stock adjustments,
# ~785 zero-price "found" invoices, 3 adjustments, the rest sales).
P_CANCELLATION_INVOICE = 0.144
P_STOCK_ADJUSTMENT_INVOICE = 0.0516
P_FOUND_INVOICE = 0.034
ADJUSTMENT_RATE = 3 / 541_909          # adjustment lines (A invoices) per line, placed at seeded positions
# Lines per invoice: P(single line), then 2 + floor(Exp(mean)). Real: sales with a customer 21.5 lines
# on average (11% single), sales without a customer 93 (7.2% of sale invoices, most of the 24.9% lines
# with no customer), cancellations 2.42 (55% single); 20.9 lines per invoice overall.
P_SINGLE_LINE_SALE = 0.11
SALE_LINES_EXP_MEAN = 22.0
P_SALE_WITHOUT_CUSTOMER = 0.072
SALE_WITHOUT_CUSTOMER_LINES_EXP_MEAN = 96.0
P_SINGLE_LINE_CANCELLATION = 0.555
CANCELLATION_LINES_EXP_MEAN = 2.7
MAX_INVOICE_LINES = 1100
P_CANCELLATION_WITHOUT_CUSTOMER = 0.047  # real: 182 of 3,836
# Per line (real rates per line in brackets).
P_EXACT_DUPLICATE = 0.0098             # a line written again later in its invoice (0.97% of lines)
P_REPEATED_PAIR = 0.0102               # another distinct line of the same stock code (1.96% of lines in such pairs)
P_LOWERCASE_LETTERED_CODE = 0.038      # lowercase suffix on codes with a letter (0.36% of lines)
P_ZERO_PRICE_SALE_LINE = 0.0001        # zero price on a customer's product line (40 lines)
P_CANCELLATION_SERVICE_LINE = 0.063    # service codes among cancellation lines (584 of 9,288)
POUND_SIGN_RATE = 32 / 541_909         # gift voucher lines with the pound sign, placed at seeded positions
# Service lines on sale invoices, per invoice (real: 2,329 service lines of line_type service (0.43%):
# POST mostly on foreign customers' invoices, DOT on invoices without a customer, M anywhere).
P_POST_FOREIGN = 0.56
P_POST_UK = 0.004
P_CARRIAGE_FOREIGN = 0.05
P_DOTCOM_POSTAGE_NO_CUSTOMER = 0.45
P_MANUAL = 0.016
P_BANK_CHARGES = 0.0007
P_OTHER_SERVICE = 0.0004
# Catalogue (real: ~4,070 stock codes, 9.6% of lines on codes with a letter suffix, 18% of codes with a
# trailing space in the description (20.8% of lines), 1.1% of lines with a quoted description of which
# a fifth hold a quote character).
CATALOGUE_SIZE = 3900
P_LETTERED_CODE = 0.10
P_TRAILING_SPACE = 0.20
P_DOUBLE_SPACE = 0.04
# Quoted descriptions are spread evenly over the popularity ranks (stratified), so that their share of
# lines does not hinge on whether one of the few best sellers happens to be quoted.
P_COMMA_DESCRIPTION = 0.0088
P_INCH_DESCRIPTION = 0.0022
# Customers (real: 4,372 customer ids in 12346..18287; 89% of lines with a customer are British).
CUSTOMER_COUNT = 4372
CUSTOMER_ID_RANGE = (12346, 18287)
DEFAULT_MALFORMED_RATE = 0.0005

# Countries and their share of lines with a customer (per 10,000, rounded, from the profile).
CUSTOMER_COUNTRY_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("United Kingdom", 8895), ("Germany", 233), ("France", 209), ("EIRE", 184), ("Spain", 62),
    ("Netherlands", 58), ("Belgium", 51), ("Switzerland", 46), ("Portugal", 36), ("Australia", 31),
    ("Norway", 27), ("Italy", 20), ("Channel Islands", 19), ("Finland", 17), ("Cyprus", 15),
    ("Sweden", 11), ("Austria", 10), ("Denmark", 10), ("Japan", 9), ("Poland", 8), ("USA", 7),
    ("Unspecified", 6), ("Israel", 6), ("Singapore", 6), ("Iceland", 4), ("Canada", 4), ("Greece", 4),
    ("Malta", 3),
)
# Lines without a customer are nearly all British (98.9%).
NO_CUSTOMER_COUNTRY_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("United Kingdom", 9890), ("EIRE", 53), ("Hong Kong", 21), ("Unspecified", 15), ("Switzerland", 10),
    ("France", 6), ("Israel", 5),
)
# Lines per month (thousands, rounded), the Christmas peak of 2011 included.
MONTH_WEIGHTS: dict[tuple[int, int], int] = {
    (2010, 12): 42, (2011, 1): 35, (2011, 2): 28, (2011, 3): 37, (2011, 4): 30, (2011, 5): 37,
    (2011, 6): 37, (2011, 7): 40, (2011, 8): 35, (2011, 9): 50, (2011, 10): 61, (2011, 11): 85,
    (2011, 12): 26,
}
FIRST_DAY, LAST_DAY = date(2010, 12, 1), date(2011, 12, 9)
CLOSED = (date(2010, 12, 24), date(2011, 1, 3))  # the Christmas closure, both days included
# Lines per hour of day (thousands, rounded, hours 6..20).
HOUR_WEIGHTS: tuple[tuple[int, float], ...] = (
    (6, 0.05), (7, 0.4), (8, 9), (9, 34), (10, 49), (11, 58), (12, 79), (13, 72), (14, 67),
    (15, 78), (16, 55), (17, 29), (18, 8), (19, 4), (20, 0.9),
)
# Quantities of product lines (per mille) and of cancellation lines (negated).
QUANTITY_WEIGHTS: tuple[tuple[int, int], ...] = (
    (1, 274), (2, 151), (12, 113), (6, 75), (4, 71), (3, 69), (24, 44), (10, 41), (8, 24), (5, 22),
    (48, 11), (25, 9), (20, 9), (16, 8), (36, 7), (7, 5), (9, 4), (72, 4), (100, 3), (96, 3), (18, 3),
    (30, 2), (40, 2), (144, 1), (200, 1), (60, 1), (50, 1), (32, 1), (120, 1), (480, 1),
)
CANCELLATION_QUANTITY_WEIGHTS: tuple[tuple[int, int], ...] = (
    (1, 442), (2, 144), (3, 63), (12, 59), (6, 52), (4, 50), (24, 26), (5, 20), (10, 18), (8, 16),
    (48, 6), (20, 5), (36, 4), (100, 3), (72, 2), (7, 2), (9, 2),
)

# ---------------------------------------------------------------------------------------------
# Word lists of the synthetic catalogue and the labels of the non-product lines.
# ---------------------------------------------------------------------------------------------
_ADJECTIVES = ("VINTAGE", "RETRO", "SMALL", "LARGE", "JUMBO", "MINI", "WOODEN", "GLASS", "ENAMEL",
               "CERAMIC", "PAPER", "FELT", "METAL", "ZINC", "WICKER", "PAINTED", "HANGING", "FRENCH",
               "ENGLISH", "SCANDINAVIAN", "ANTIQUE", "SWEET", "GLITTER", "EDWARDIAN", "REGENCY")
_MOTIFS = ("RED", "PINK", "BLUE", "GREEN", "IVORY", "WHITE", "BLACK", "CREAM", "SILVER", "GOLD",
           "SPOTTY", "POLKADOT", "STRIPE", "GINGHAM", "PAISLEY", "FLORAL", "ROSE", "HEART", "STAR",
           "BIRD", "OWL", "CHERRY", "LOVE", "SKULL", "DOLLY GIRL", "SPACEBOY", "WOODLAND", "CHRISTMAS",
           "PANTRY", "PARTY", "GARDEN", "UNION JACK")
_ITEMS = ("T-LIGHT HOLDER", "CAKE TIN", "LUNCH BAG", "JAM JAR", "TEA CUP AND SAUCER", "PHOTO FRAME",
          "DOOR SIGN", "CANDLE", "CUSHION COVER", "SHOPPING BAG", "STORAGE BOX", "WATER BOTTLE",
          "NAPKINS", "PAPER CUPS", "BUNTING", "CHALKBOARD", "CLOCK", "DOORSTOP", "COAT HANGER",
          "TRINKET BOX", "MUG", "BOWL", "PLATE", "CAKE STAND", "LANTERN", "WALL ART", "NOTEBOOK",
          "PENCILS", "STICKERS", "WRAP", "GIFT BAG", "TISSUES", "PURSE", "HAND WARMER", "KEY RING",
          "BAKING CASES", "CHOPPING BOARD", "APRON", "OVEN GLOVE", "TEA TOWEL", "DECORATION",
          "GARLAND", "WREATH", "BELL", "BASKET", "BIRD HOUSE", "PLANT POT", "HOOK", "DRAWER KNOB")
_PACKS = ("", "", "", "", "SET OF 3 ", "SET OF 4 ", "SET OF 6 ", "PACK OF 12 ", "PACK OF 60 ", "SET/3 ")
_COMMA_TAILS = ("ASSORTED", "SET OF 2", "LARGE", "SMALL", "ASSORTED COLOURS", "IVORY", "BLUE")
_INCH_SIZES = ("5", "7", "10", "12")
_STOCK_ADJUSTMENT_NOTES = ("", "", "", "", "", "", "check", "damages", "damaged", "?", "Damaged",
                           "thrown away", "missing", "wet damaged", "smashed", "broken")
_FOUND_NOTES = ("", "", "", "", "", "check", "found", "adjustment", "Found", "amazon")
_LETTER_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("B", 25), ("A", 23), ("C", 12), ("D", 7), ("L", 5), ("E", 4), ("F", 4), ("S", 3), ("G", 3),
    ("P", 2), ("N", 2), ("M", 1), ("K", 1), ("H", 1), ("BL", 1), ("W", 1),
)
_CODE_PREFIX_WEIGHTS: tuple[tuple[int, int], ...] = ((2, 70), (8, 14), (7, 5), (4, 4), (3, 3), (1, 2),
                                                      (9, 1), (5, 1))
_GIFT_VOUCHER_VALUES = (10, 20, 30, 40, 50, 100)

MALFORMED_KINDS: tuple[str, ...] = (
    "wrong_field_count", "unbalanced_quote", "bad_quantity", "bad_date", "zero_quantity", "empty_required",
)
FLOAT_CUSTOMER = "float_customer_id"  # a valid line: `17850.0` is normalised to `17850`
_SCHEDULED_KINDS = (*MALFORMED_KINDS, FLOAT_CUSTOMER)

# Line kinds (line_type of the contract) and line flags (bits).
SALE, CANCELLATION, ADJUSTMENT, STOCK_ADJUSTMENT, SERVICE = (
    "sale", "cancellation", "adjustment", "stock_adjustment", "service")
F_NO_CUSTOMER, F_ZERO_PRICE, F_LOWERCASE, F_QUOTED, F_TRAILING, F_POUND, F_PAIR, F_TWIN = (
    1, 2, 4, 8, 16, 32, 64, 128)
_FLAG_NAMES = ((F_NO_CUSTOMER, "missing_customer_lines"), (F_ZERO_PRICE, "zero_price_lines"),
               (F_LOWERCASE, "lowercase_stock_codes"), (F_QUOTED, "quoted_descriptions"),
               (F_TRAILING, "trailing_space_descriptions"), (F_POUND, "pound_sign_lines"),
               (F_PAIR, "repeated_pair_lines"))


@dataclass
class GenerateStats:
    """What `generate_file` wrote.

    `rows` counts every data line (malformed ones included). `line_types` counts the distinct valid
    lines by the contract's line_type, so `sum(line_types) + duplicate_lines + malformed_lines == rows`
    (what the batch job should curate, drop as duplicates and quarantine). The dirt counts
    (`*_lines`, `lowercase_stock_codes`, ...) count every valid line written, duplicates included,
    as `ecomflow.devtools.raw_profile` does.
    """

    path: str
    rows: int
    seed: int
    invoices: int = 0
    line_types: dict[str, int] = field(default_factory=dict)
    duplicate_lines: int = 0
    missing_customer_lines: int = 0
    zero_price_lines: int = 0
    repeated_pair_lines: int = 0
    lowercase_stock_codes: int = 0
    quoted_descriptions: int = 0
    trailing_space_descriptions: int = 0
    pound_sign_lines: int = 0
    float_customer_ids: int = 0
    malformed_lines: int = 0
    malformed: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        """The stats as one JSON object."""
        return json.dumps(asdict(self))


def _cumulative(weights: tuple[tuple[object, float], ...]) -> tuple[list, list[float]]:
    values = [value for value, _ in weights]
    return values, list(accumulate(weight for _, weight in weights))


class _Picker:
    """Weighted choice by bisection over cumulative weights (one `random()` a pick)."""

    def __init__(self, rng: random.Random, weights: tuple[tuple[object, float], ...]) -> None:
        self._values, self._cum = _cumulative(weights)
        self._total = self._cum[-1]
        self._random = rng.random

    def __call__(self):
        return self._values[bisect_right(self._cum, self._random() * self._total)]


def price_text(cents: int) -> str:
    """A price in pence written in its shortest form: 1800 -> `18`, 210 -> `2.1`, 255 -> `2.55`."""
    sign, cents = ("-", -cents) if cents < 0 else ("", cents)
    pounds, pence = divmod(cents, 100)
    if pence == 0:
        return f"{sign}{pounds}"
    if pence % 10 == 0:
        return f"{sign}{pounds}.{pence // 10}"
    return f"{sign}{pounds}.{pence:02d}"


def csv_field(text: str) -> str:
    """`text` as a CSV field: quoted (quotes doubled) when it holds a comma, a quote or a line break."""
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


@dataclass(frozen=True)
class _Product:
    code: str
    description: str      # already a CSV field
    cents: int
    price: str            # `cents` in its shortest form
    flags: int            # F_QUOTED / F_TRAILING
    lettered: bool


class _Calendar:
    """Maps the progress through the file (0..1) onto a trading date and time, monotonically."""

    def __init__(self) -> None:
        days: list[date] = []
        weights: list[float] = []
        per_month = Counter((d.year, d.month) for d in self._trading_days())
        for day in self._trading_days():
            weight = MONTH_WEIGHTS[(day.year, day.month)] / per_month[(day.year, day.month)]
            days.append(day)
            weights.append(weight * (0.7 if day.weekday() == 6 else 1.0))
        total = sum(weights)
        self._days = days
        self._cum = [w / total for w in accumulate(weights)]
        self._starts = [0.0, *self._cum[:-1]]
        hours, hour_cum = _cumulative(HOUR_WEIGHTS)
        self._hours = hours
        self._hour_cum = [c / hour_cum[-1] for c in hour_cum]
        self._hour_starts = [0.0, *self._hour_cum[:-1]]

    @staticmethod
    def _trading_days() -> Iterator[date]:
        day = FIRST_DAY
        while day <= LAST_DAY:
            if day.weekday() != 5 and not CLOSED[0] <= day <= CLOSED[1]:
                yield day
            day += timedelta(days=1)

    def at(self, progress: float) -> tuple[str, int, int, int, int, int]:
        """The `M/D/YYYY H:MM` text and (year, month, day, hour, minute) at `progress` in [0, 1)."""
        i = min(bisect_right(self._cum, progress), len(self._days) - 1)
        within = (progress - self._starts[i]) / (self._cum[i] - self._starts[i])
        h = min(bisect_right(self._hour_cum, within), len(self._hours) - 1)
        in_hour = (within - self._hour_starts[h]) / (self._hour_cum[h] - self._hour_starts[h])
        day, hour, minute = self._days[i], self._hours[h], min(59, int(in_hour * 60))
        return (f"{day.month}/{day.day}/{day.year} {hour}:{minute:02d}",
                day.year, day.month, day.day, hour, minute)


class _InvoiceFactory:
    """Builds invoices: lists of lines `[fields(8 strings), kind, flags]` with dirt already in."""

    def __init__(self, rng: random.Random, rows: int) -> None:
        self.rng = rng
        self.calendar = _Calendar()
        self.quantity = _Picker(rng, QUANTITY_WEIGHTS)
        self.cancel_quantity = _Picker(rng, CANCELLATION_QUANTITY_WEIGHTS)
        self.customer_country = _Picker(rng, CUSTOMER_COUNTRY_WEIGHTS)
        self.no_customer_country = _Picker(rng, NO_CUSTOMER_COUNTRY_WEIGHTS)
        self.products = self._catalogue()
        popularity = [1.0 / (rank + 15) ** 0.9 for rank in range(len(self.products))]
        self._product_cum = list(accumulate(popularity))
        self.customers = self._customers()
        self._customer_cum = list(accumulate(weight for _, _, weight in self.customers))
        # Invoice numbers keep 6 digits: realistic gaps while they fit, consecutive numbers beyond.
        expected_invoices = rows / 20 + 10
        if expected_invoices * 1.8 < 999_999 - 536_365:
            self.next_number, self.gap = 536_365, 0.75
        else:
            self.next_number, self.gap = 100_000, 0.0

    # -- set-up ---------------------------------------------------------------------------------
    def _catalogue(self) -> list[_Product]:
        rng = self.rng
        prefix = _Picker(rng, _CODE_PREFIX_WEIGHTS)
        letter = _Picker(rng, _LETTER_WEIGHTS)
        pounds = _Picker(rng, ((0, 38), (1, 24), (2, 14), (3, 8), (4, 6), (5, 3), (6, 2), (7, 2),
                               (8, 1.2), (9, 0.8), (10, 0.6), (12, 0.4), (14, 0.2), (16, 0.2), (24, 0.1)))
        pence = (5, 10, 19, 25, 29, 39, 42, 45, 50, 55, 63, 65, 75, 79, 83, 85, 95, 0, 65, 85, 25, 95)
        products: list[_Product] = []
        used_codes: set[str] = set()
        used_descriptions: set[str] = set()
        comma_period, inch_period = round(1 / P_COMMA_DESCRIPTION), round(1 / P_INCH_DESCRIPTION)
        comma_phase, inch_phase = rng.randrange(comma_period), rng.randrange(inch_period)
        while len(products) < CATALOGUE_SIZE:
            rank = len(products)  # products are drawn by rank: the first ones sell most
            base = f"{prefix()}{rng.randrange(10_000):04d}"
            lettered = rng.random() < P_LETTERED_CODE
            code = base + letter() if lettered else base
            if code in used_codes:
                continue
            item, motif, adjective = rng.choice(_ITEMS), rng.choice(_MOTIFS), rng.choice(_ADJECTIVES)
            if rank % comma_period == comma_phase:
                text = f"{item}, {motif} {rng.choice(_COMMA_TAILS)}"
            elif rank % inch_period == inch_phase:
                text = f'{motif} {item} {rng.choice(_INCH_SIZES)}" {adjective}'
            else:
                text = f"{rng.choice(_PACKS)}{adjective} {motif} {item}"
            if text in used_descriptions:
                continue
            used_descriptions.add(text)
            flags = 0
            if rng.random() < P_DOUBLE_SPACE:
                text = text.replace(" ", "  ", 1)
            if rng.random() < P_TRAILING_SPACE:
                text += " "
                flags |= F_TRAILING
            described = csv_field(text)
            if described != text:
                flags |= F_QUOTED
            cents = pounds() * 100 + rng.choice(pence) or 29
            used_codes.add(code)
            products.append(_Product(code, described, cents, price_text(cents), flags, lettered))
        return products

    def _customers(self) -> list[tuple[str, str, float]]:
        rng = self.rng
        low, high = CUSTOMER_ID_RANGE
        ids = sorted(rng.sample(range(low, high + 1), CUSTOMER_COUNT))
        # Mildly skewed loyalty: some customers come back far more often than others.
        return [(str(i), self.customer_country(), min(rng.paretovariate(1.6), 40.0)) for i in ids]

    # -- drawing ---------------------------------------------------------------------------------
    def _customer(self) -> tuple[str, str]:
        i = bisect_right(self._customer_cum, self.rng.random() * self._customer_cum[-1])
        customer_id, country, _ = self.customers[i]
        return customer_id, country

    def _product_index(self) -> int:
        return bisect_right(self._product_cum, self.rng.random() * self._product_cum[-1])

    def _line_count(self, p_single: float, exp_mean: float) -> int:
        rng = self.rng
        if rng.random() < p_single:
            return 1
        return min(MAX_INVOICE_LINES, 2 + int(rng.expovariate(1.0 / exp_mean)))

    def _number(self) -> int:
        number = self.next_number
        self.next_number += 1 + (self.rng.random() < self.gap)
        return number

    def _product_line(self, invoice: str, product: _Product, quantity: int, cents: int, when: str,
                      customer: str, country: str, flags: int) -> list:
        code = product.code
        if product.lettered and self.rng.random() < P_LOWERCASE_LETTERED_CODE:
            code = code.lower()
            flags |= F_LOWERCASE
        price = product.price if cents == product.cents else price_text(cents)
        return [[invoice, code, product.description, str(quantity), when, price, customer, country],
                flags | product.flags]

    # -- invoices --------------------------------------------------------------------------------
    def invoice(self, progress: float, adjustment_due: bool, vouchers_due: int) -> list[list]:
        """The next invoice, as lines `[fields, kind, flags]` in the order they are to be written."""
        when = self.calendar.at(progress)[0]
        if adjustment_due:
            return self._adjustment(when)
        if vouchers_due:  # gift vouchers are sold on sale invoices
            return self._sale(when, vouchers_due)
        draw = self.rng.random()
        if draw < P_CANCELLATION_INVOICE:
            return self._cancellation(when)
        draw -= P_CANCELLATION_INVOICE
        if draw < P_STOCK_ADJUSTMENT_INVOICE:
            return self._stock_line(when, negative=True)
        draw -= P_STOCK_ADJUSTMENT_INVOICE
        if draw < P_FOUND_INVOICE:
            return self._stock_line(when, negative=False)
        return self._sale(when, vouchers_due)

    def _adjustment(self, when: str) -> list[list]:
        cents = -self.rng.randrange(50_000, 2_000_000)
        fields = [f"A{self._number()}", "B", "Adjust bad debt", "1", when, price_text(cents), "", "United Kingdom"]
        return self._typed([[fields, F_NO_CUSTOMER]], ADJUSTMENT)

    def _stock_line(self, when: str, negative: bool) -> list[list]:
        rng = self.rng
        product = self.products[self._product_index()]
        if negative:
            quantity = -self.quantity() * rng.choice((1, 1, 1, 2, 5, 10))
            note = rng.choice(_STOCK_ADJUSTMENT_NOTES)
        else:
            quantity = self.quantity() * rng.choice((1, 1, 2, 10))
            note = rng.choice(_FOUND_NOTES) if rng.random() < 0.8 else product.description
        line = self._product_line(str(self._number()), product, quantity, 0, when, "",
                                  "United Kingdom", F_NO_CUSTOMER | F_ZERO_PRICE)
        line[0][2] = note
        line[1] &= ~(F_QUOTED | F_TRAILING)
        line[1] |= product.flags if note == product.description else 0
        return self._typed([line], STOCK_ADJUSTMENT if negative else SALE)

    def _cancellation(self, when: str) -> list[list]:
        rng = self.rng
        invoice = f"C{self._number()}"
        if rng.random() < P_CANCELLATION_WITHOUT_CUSTOMER:
            customer, country, flags = "", self.no_customer_country(), F_NO_CUSTOMER
        else:
            (customer, country), flags = self._customer(), 0
        lines = []
        chosen: set[int] = set()
        used_services: set[str] = set()
        for _ in range(self._line_count(P_SINGLE_LINE_CANCELLATION, CANCELLATION_LINES_EXP_MEAN)):
            if rng.random() < P_CANCELLATION_SERVICE_LINE:
                code = rng.choice(("M", "M", "M", "M", "POST", "POST", "D", "S", "AMAZONFEE", "BANK CHARGES",
                                   "CRUK"))
                if code not in used_services:
                    used_services.add(code)
                    lines.append([self._service_fields(invoice, code, when, customer, country, -1), flags])
                    continue
            index = self._distinct_product(chosen)
            product = self.products[index]
            lines.append(self._product_line(invoice, product, -self.cancel_quantity(), product.cents, when,
                                            customer, country, flags))
        return self._typed(self._with_duplicates(lines), CANCELLATION)

    def _sale(self, when: str, vouchers_due: int) -> list[list]:
        rng = self.rng
        invoice = str(self._number())
        if rng.random() < P_SALE_WITHOUT_CUSTOMER:
            customer, country, flags = "", self.no_customer_country(), F_NO_CUSTOMER
            count = self._line_count(P_SINGLE_LINE_SALE, SALE_WITHOUT_CUSTOMER_LINES_EXP_MEAN)
        else:
            (customer, country), flags = self._customer(), 0
            count = self._line_count(P_SINGLE_LINE_SALE, SALE_LINES_EXP_MEAN)
        lines = []
        chosen: set[int] = set()
        for _ in range(count):
            product = self.products[self._distinct_product(chosen)]
            cents, line_flags = product.cents, flags
            if customer and rng.random() < P_ZERO_PRICE_SALE_LINE:
                cents, line_flags = 0, flags | F_ZERO_PRICE
            lines.append(self._product_line(invoice, product, self.quantity(), cents, when, customer, country,
                                            line_flags))
            if rng.random() < P_REPEATED_PAIR:
                lines.append(self._pair_line(lines[-1], product))
        for position in sorted(rng.randrange(len(lines) + 1) for _ in range(vouchers_due)):
            value = rng.choice(_GIFT_VOUCHER_VALUES)
            lines.insert(position, [[invoice, f"GIFTVOUCHER{value}", f"Online Gift Voucher \xa3{value}.00", "1",
                                     when, price_text(value * 100), customer, country], flags | F_POUND])
        foreign = bool(customer) and country != "United Kingdom"
        for code, probability in (("POST", P_POST_FOREIGN if foreign else P_POST_UK),
                                  ("C2", P_CARRIAGE_FOREIGN if foreign else 0.0),
                                  ("DOT", 0.0 if customer else P_DOTCOM_POSTAGE_NO_CUSTOMER),
                                  ("M", P_MANUAL), ("BANK CHARGES", P_BANK_CHARGES),
                                  (rng.choice(("PADS", "S", "AMAZONFEE")), P_OTHER_SERVICE)):
            if probability and rng.random() < probability:
                fields = self._service_fields(invoice, code, when, customer, country, 1)
                lines.insert(rng.randrange(len(lines) + 1), [fields, flags])
        return self._typed(self._with_duplicates(lines), SALE)

    def _distinct_product(self, chosen: set[int]) -> int:
        # Distinct products within an invoice: repeats come only from the two deliberate kinds of dirt.
        while True:
            index = self._product_index()
            if index not in chosen:
                chosen.add(index)
                return index

    def _pair_line(self, line: list, product: _Product) -> list:
        """Another distinct line of the same stock code: another quantity, sometimes another price."""
        fields, flags = line
        rng = self.rng
        quantity = int(fields[3])
        other = quantity
        while other == quantity:
            other = self.quantity()
        pair = [list(fields), flags | F_PAIR]
        pair[0][3] = str(other)
        if rng.random() < 0.1 and product.cents > 1:
            pair[0][5] = price_text(product.cents * 85 // 100 or 1)
        line[1] |= F_PAIR
        return pair

    def _service_fields(self, invoice: str, code: str, when: str, customer: str, country: str,
                        sign: int) -> list[str]:
        rng = self.rng
        if code == "POST":
            text, price = "POSTAGE", price_text(rng.choice((1800, 1800, 1800, 1800, 1500, 4000, 2800)))
        elif code == "DOT":
            text, price = "DOTCOM POSTAGE", price_text(rng.randrange(500, 100_000))
        elif code == "C2":
            text, price = "CARRIAGE", "50"
        elif code == "M":
            text, price = "Manual", price_text(rng.randrange(19, 6000))
        elif code == "D":
            text, price = "Discount", price_text(rng.randrange(300, 4000))
        elif code == "S":
            text, price = "SAMPLES", price_text(rng.randrange(100, 5000))
        elif code == "BANK CHARGES":
            text, price = "Bank Charges", "15" if sign > 0 else price_text(rng.randrange(1500, 100_000))
        elif code == "AMAZONFEE":
            text, price = "AMAZON FEE", price_text(rng.randrange(10_000, 1_400_000))
        elif code == "CRUK":
            text, price = "CRUK Commission", price_text(rng.randrange(100, 6000))
        else:  # PADS
            text, price = "CUSHION PADS", "0.001"
        return [invoice, code, text, str(sign), when, price, customer, country]

    def _with_duplicates(self, lines: list[list]) -> list[list]:
        """Write some lines again later in the same invoice (exact duplicates)."""
        rng = self.rng
        for index in range(len(lines) - 1, -1, -1):
            if rng.random() < P_EXACT_DUPLICATE:
                lines[index][1] |= F_TWIN
                copy = [lines[index][0], lines[index][1]]
                lines.insert(rng.randrange(index + 1, len(lines) + 1), copy)
        return lines

    @staticmethod
    def _typed(lines: list[list], kind: str) -> list[list]:
        for line in lines:
            code = line[0][1].upper()
            line.insert(1, SERVICE if kind == SALE and code in _SERVICE_SET else kind)
        return lines


_SERVICE_SET = frozenset(DEFAULT_SERVICE_CODES)
_IMPOSSIBLE_DATES = ("2/30/{y} 10:15", "13/5/{y} 9:40", "6/31/{y} 14:20", "4/10/{y} 25:10", "11/31/{y} 9:05",
                     "9/12/{y} 11:75", "0/7/{y} 12:00")
_BAD_QUANTITIES = ("six", "12a", "1.5", "2x", "--3", "1e3")


def _corrupt(fields: list[str], kind: str, rng: random.Random) -> str:
    """The line text of `fields` broken in the way `kind` names."""
    fields = list(fields)
    if kind == "wrong_field_count":
        if rng.random() < 0.5:
            fields.pop()
        else:
            fields.append(rng.choice(("", "EXTRA", fields[-1])))
    elif kind == "unbalanced_quote":
        text = fields[2].strip('"').replace('"', "") or "MISSING QUOTE"
        fields[2] = '"' + text
    elif kind == "bad_quantity":
        fields[3] = rng.choice(_BAD_QUANTITIES)
    elif kind == "bad_date":
        year = fields[4].split(" ")[0].split("/")[-1]
        fields[4] = rng.choice(_IMPOSSIBLE_DATES).format(y=year)
    elif kind == "zero_quantity":
        fields[3] = "0"
    elif kind == "empty_required":
        fields[rng.choice((0, 1, 7))] = ""
    return ",".join(fields)


def _schedule(rng: random.Random, rows: int, count: int) -> list[int]:
    """`count` distinct seeded row positions, sorted, away from the very end of the file."""
    span = max(1, rows - rows // 50)
    return sorted(rng.sample(range(span), min(count, span)))


@contextmanager
def _open_text(path: str) -> Iterator[TextIO]:
    """A latin-1 text file with LF endings; gzip-compressed when `path` ends with `.gz`."""
    if not path.endswith(".gz"):
        with open(path, "w", encoding="latin-1", newline="") as text:
            yield text
        return
    # No file name and a zero mtime in the gzip header: the same seed gives the same bytes.
    # GzipFile does not close a file object it was given, so each layer is closed here.
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed, \
            io.TextIOWrapper(packed, encoding="latin-1", newline="") as text:
        yield text


def generate_file(path: str, rows: int, seed: int, *,
                  malformed_rate: float = DEFAULT_MALFORMED_RATE) -> GenerateStats:
    """Write a synthetic raw Online Retail file of exactly `rows` data lines (plus the header).

    Args:
        path: output file; ends in `.gz` for a gzip file.
        rows: data lines to write, malformed ones included.
        seed: the same seed gives a byte-identical file.
        malformed_rate: share of lines broken in one of `MALFORMED_KINDS` or given a `17850.0`-style
            customer id, spread evenly over those kinds (placed at seeded positions).

    Returns:
        What was written, by kind of line and dirt.

    Raises:
        ConfigError: `rows` is negative or `malformed_rate` is outside [0, 0.5].
    """
    if rows < 0:
        raise ConfigError(f"--rows must be >= 0, got {rows}")
    if not 0.0 <= malformed_rate <= 0.5:
        raise ConfigError(f"malformed rate must be within [0, 0.5], got {malformed_rate}")
    rng = random.Random(seed)
    schedule_rng = random.Random(f"{seed}/schedule")
    factory = _InvoiceFactory(rng, rows)

    scheduled_count = round(rows * malformed_rate)
    scheduled_rows = _schedule(schedule_rng, rows, scheduled_count)
    kinds = [_SCHEDULED_KINDS[i % len(_SCHEDULED_KINDS)] for i in range(len(scheduled_rows))]
    schedule_rng.shuffle(kinds)
    scheduled = dict(zip(scheduled_rows, kinds, strict=True))
    rare_floor = 1 if rows >= 1000 else 0
    adjustments = _schedule(schedule_rng, rows, max(rare_floor, round(rows * ADJUSTMENT_RATE)))
    vouchers = _schedule(schedule_rng, rows, max(rare_floor, round(rows * POUND_SIGN_RATE)))

    stats = GenerateStats(path=path, rows=rows, seed=seed)
    kinds_written: Counter[str] = Counter()
    flags_written: Counter[int] = Counter()
    malformed: Counter[str] = Counter()
    pending: list[str] = []
    written = 0
    with _open_text(path) as out:
        out.write(RAW_HEADER + "\n")
        while written < rows:
            adjustment_due = bool(adjustments) and adjustments[0] <= written
            if adjustment_due:
                adjustments.pop(0)
            vouchers_due = 0
            while vouchers and vouchers[0] <= written + 20:
                vouchers.pop(0)
                vouchers_due += 1
            invoice = factory.invoice(written / rows, adjustment_due, vouchers_due)
            stats.invoices += 1
            seen: set[str] = set()
            chunk: list[str] = []
            for fields, kind, flags in invoice:
                if written == rows:
                    break
                if written in scheduled:
                    pending.append(scheduled[written])
                written += 1
                if pending and not flags & F_POUND and kind != ADJUSTMENT:
                    broken = pending[0]
                    if broken == FLOAT_CUSTOMER:
                        if fields[6] and not flags & F_TWIN:
                            pending.pop(0)
                            fields = [*fields[:6], fields[6] + ".0", fields[7]]
                            stats.float_customer_ids += 1
                    else:
                        pending.pop(0)
                        malformed[broken] += 1
                        chunk.append(_corrupt(fields, broken, schedule_rng) + "\n")
                        continue
                text = ",".join(fields)
                if text in seen:
                    stats.duplicate_lines += 1
                else:
                    seen.add(text)
                    kinds_written[kind] += 1
                flags_written[flags] += 1
                chunk.append(text + "\n")
            out.write("".join(chunk))
    stats.line_types = {kind: kinds_written[kind] for kind in (SALE, CANCELLATION, ADJUSTMENT,
                                                                   STOCK_ADJUSTMENT, SERVICE)}
    for bit, name in _FLAG_NAMES:
        setattr(stats, name, sum(n for flags, n in flags_written.items() if flags & bit))
    stats.malformed = {kind: malformed[kind] for kind in MALFORMED_KINDS}
    stats.malformed_lines = sum(malformed.values())
    return stats
