"""Ingest validation: every bad request is a 4xx with a clear message, never an exception."""

from __future__ import annotations

import json

import pytest

from ecomflow import ingest
from ecomflow.errors import InvalidRequestError

GOOD = {"InvoiceNo": "C536379", "StockCode": "D", "Description": "Discount", "Quantity": "-1",
        "InvoiceDate": "12/1/2010 9:41", "UnitPrice": "27.50", "CustomerID": "14527", "Country": "United Kingdom"}
CSV_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def refused(body, content_type="application/json", **kwargs) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        ingest.parse_records(body, content_type, **kwargs)
    return caught.value


def test_raw_fields_mirror_the_schema():
    from ecomflow.schemas import RAW_FIELDS

    assert ingest.RAW_FIELDS == RAW_FIELDS


def test_json_records_are_accepted_as_raw_strings():
    body = json.dumps({"records": [GOOD, {**GOOD, "Quantity": 6, "UnitPrice": 2.55, "CustomerID": None}]})
    records = ingest.parse_records(body, "application/json; charset=utf-8")
    assert records[0].as_dict() == GOOD
    assert records[1].as_dict()["Quantity"] == "6" and records[1].as_dict()["UnitPrice"] == "2.55"
    assert records[1].to_json() == ('{"InvoiceNo":"C536379","StockCode":"D","Description":"Discount",'
                                    '"Quantity":"6","InvoiceDate":"12/1/2010 9:41","UnitPrice":"2.55",'
                                    '"Country":"United Kingdom"}')
    assert records[0].partition_key == "C536379"


def test_csv_fields_are_kept_as_written():
    body = f'{CSV_HEADER}\r\n536365,85123A," HEART, ""RED""",6,12/1/2010 8:26,2.55,17850.0,United Kingdom\r\n'
    (record,) = ingest.parse_records(body.encode("latin-1"), "text/csv; charset=iso-8859-1")
    assert record.as_dict()["Description"] == ' HEART, "RED"'
    assert record.as_dict()["CustomerID"] == "17850.0"


def test_non_json_body_is_400():
    error = refused("InvoiceNo=1")
    assert error.status_code == 400 and "not valid JSON" in error.message


def test_json_without_records_array_is_400():
    assert refused(json.dumps([GOOD])).status_code == 400
    assert "array" in refused(json.dumps({"records": GOOD})).message


def test_missing_fields_name_each_bad_record():
    body = json.dumps({"records": [GOOD, {"InvoiceNo": "536366"}, {**GOOD, "Quantity": "six"}]})
    error = refused(body)
    assert error.status_code == 400
    assert [e["record"] for e in error.errors] == [1, 2]
    assert "StockCode is missing" in error.errors[0]["errors"]
    assert error.errors[1]["errors"] == ["Quantity 'six' is not a whole number"]
    assert "2 of 3 records are invalid" in error.message


def test_nested_values_are_400_not_a_crash():
    error = refused(json.dumps({"records": [{**GOOD, "Quantity": {"n": 1}}, "text"]}))
    assert error.status_code == 400 and len(error.errors) == 2


def test_wrong_content_type_is_415():
    error = refused(json.dumps({"records": [GOOD]}), "application/xml")
    assert error.status_code == 415 and "application/json" in error.message
    assert refused("x", None).status_code == 415


def test_more_than_500_records_is_413():
    error = refused(json.dumps({"records": [GOOD] * 501}))
    assert error.status_code == 413 and "at most 500" in error.message


def test_more_than_5_mib_is_413():
    body = json.dumps({"records": [{**GOOD, "Description": "x" * (6 * 1024 * 1024)}]})
    error = refused(body)
    assert error.status_code == 413 and "5 MiB" in error.message


def test_record_over_1_mib_is_refused_by_its_fields_bound():
    # The contract bounds every field far below Kinesis's 1 MiB a record: the field is named.
    error = refused(json.dumps({"records": [GOOD, {**GOOD, "Description": "x" * (1024 * 1024)}]}))
    assert error.status_code == 400 and error.errors[0]["record"] == 1
    assert error.errors[0]["errors"] == ["Description is longer than 1024 bytes (UTF-8)"]


def test_csv_wrong_header_and_field_count_are_400():
    assert "header" in refused("a,b\n1,2\n", "text/csv").message
    error = refused(f"{CSV_HEADER}\n536365,85123A,X,6\n", "text/csv")
    assert error.errors == [{"record": 0, "line": 2, "errors": ["has 4 fields, expected 8"]}]


def test_empty_requests_are_400():
    assert refused(json.dumps({"records": []})).status_code == 400
    assert refused("", "text/csv").status_code == 400


def test_bad_base64_is_400():
    assert refused("%%%", is_base64=True).status_code == 400


# --- what the streaming job reads from a record's bytes ---------------------------------------

def test_stream_records_are_read_as_raw_strings_numbers_as_written():
    data = b'{"InvoiceNo": "536365", "Quantity": 6, "UnitPrice": 2.550}'
    *fields, text = ingest.decode_stream_record(data)
    assert dict(zip(ingest.RAW_FIELDS, fields)) == {**dict.fromkeys(ingest.RAW_FIELDS), "InvoiceNo": "536365", "Quantity": "6",
                                             "UnitPrice": "2.550"}
    assert text == data.decode()


@pytest.mark.parametrize("data", [
    b"not json", b"[1, 2]", b'{"Quantity": {"n": 1}}', b"\xff\xfe", b'{"InvoiceNo": "536365"',
    b'{"InvoiceNo": "536365"} trailing', b'"536365"', b"", b'{"InvoiceNo": true}', b"[" * 100_000,
    b'{"Quantity": ' + b"9" * 5000 + b"}", b'{"UnitPrice": 1e99999999999999999999}', None,
])
def test_stream_records_that_are_not_objects_of_raw_fields_keep_only_their_text(data):
    *fields, text = ingest.decode_stream_record(data)
    assert fields == [None] * len(ingest.RAW_FIELDS)
    assert text == (data or b"").decode("utf-8", errors="replace")
