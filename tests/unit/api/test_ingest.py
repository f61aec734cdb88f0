"""Ingest validation: every bad request is a 4xx with a clear message, never an exception."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from ecomflow import contract
from ecomflow.api import ingest
from ecomflow.api.errors import InvalidRequestError
from ecomflow.retry import RetryPolicy

GOOD = {"InvoiceNo": "C536379", "StockCode": "D", "Description": "Discount", "Quantity": "-1",
        "InvoiceDate": "12/1/2010 9:41", "UnitPrice": "27.50", "CustomerID": "14527", "Country": "United Kingdom"}
CSV_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def refused(body, content_type="application/json", **kwargs) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        ingest.parse_records(body, content_type, **kwargs)
    return caught.value


def test_raw_fields_mirror_the_schema():
    from ecomflow.contract import RAW_FIELDS

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
    *fields, text = contract.decode_stream_record(data)
    assert dict(zip(ingest.RAW_FIELDS, fields, strict=True)) == {
        **dict.fromkeys(ingest.RAW_FIELDS), "InvoiceNo": "536365", "Quantity": "6", "UnitPrice": "2.550"}
    assert text == data.decode()


@pytest.mark.parametrize("data", [
    b"not json", b"[1, 2]", b'{"Quantity": {"n": 1}}', b"\xff\xfe", b'{"InvoiceNo": "536365"',
    b'{"InvoiceNo": "536365"} trailing', b'"536365"', b"", b'{"InvoiceNo": true}', b"[" * 100_000,
    b'{"Quantity": ' + b"9" * 5000 + b"}", b'{"UnitPrice": 1e99999999999999999999}', None,
])
def test_stream_records_that_are_not_objects_of_raw_fields_keep_only_their_text(data):
    *fields, text = contract.decode_stream_record(data)
    assert fields == [None] * len(ingest.RAW_FIELDS)
    assert text == (data or b"").decode("utf-8", errors="replace")


# --- hostile bodies: each one a short 4xx naming the problem, never an exception ---------------

def records_json(*records: str) -> str:
    return '{"records": [' + ", ".join(records) + "]}"


def test_json_nested_10000_levels_is_400_before_parsing():
    error = refused("[" * 10_000 + "]" * 10_000)
    assert error.status_code == 400 and "deeper than 32 levels" in error.message


def test_json_with_thousands_of_unclosed_brackets_is_400():
    assert "deeper than 32 levels" in refused('{"records": [' + "[" * 100_000).message


def test_json_nested_exactly_32_levels_reaches_record_validation():
    # {"records": [{"Quantity": ...}]} is 3 levels; 29 more make 32.
    error = refused(records_json('{"Quantity": ' + "[" * 29 + "]" * 29 + "}"))
    assert "deeper" not in error.message and error.errors[0]["record"] == 0


def test_json_nested_33_levels_is_400():
    assert "deeper than 32 levels" in refused(records_json('{"Quantity": ' + "[" * 30 + "]" * 30 + "}")).message


def test_brackets_inside_json_strings_do_not_count_as_nesting():
    # 200 times 4 characters: deeper than the nesting limit, within the Description bound (1,024 bytes)
    (record,) = ingest.parse_records(json.dumps({"records": [{**GOOD, "Description": '[{"\\' * 200}]}),
                                     "application/json")
    assert record.as_dict()["Description"] == '[{"\\' * 200


def test_integer_of_5000_digits_is_400():
    error = refused(records_json('{"Quantity": ' + "9" * 5000 + "}"))
    assert error.status_code == 400 and "number of 5000 characters" in error.message and len(error.message) < 200


def test_float_of_5000_digits_is_400():
    assert "number of 5002 characters" in refused(records_json('{"UnitPrice": 1.' + "0" * 5000 + "}")).message


def test_float_beyond_decimal_range_is_400():
    error = refused(records_json('{"UnitPrice": 1e99999999999999999999}'))
    assert error.status_code == 400 and "out of range" in error.message


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_400(constant):
    answer = refused(records_json(f'{{"UnitPrice": {constant}}}'))
    assert f"has {constant}, which is not a JSON number" in answer.message


@pytest.mark.parametrize("charset", ["undefined", "bogus", "x" * 10_000, '"'])
def test_unknown_charset_is_415_and_short(charset):
    error = refused(json.dumps({"records": [GOOD]}), f"application/json; charset={charset}")
    assert error.status_code == 415 and "unsupported charset" in error.message and len(error.message) < 200


@pytest.mark.parametrize("charset", ["utf-16", "utf-7", "cp1252", "idna", "rot13", "hex", "utf-8-sig"])
def test_charsets_python_knows_but_the_api_does_not_allow_are_415(charset):
    assert refused(json.dumps({"records": [GOOD]}), f"application/json; charset={charset}").status_code == 415


@pytest.mark.parametrize("charset", ["UTF8", "Latin1", '"ISO-8859-1"', "us-ascii"])
def test_charset_aliases_are_read(charset):
    (record,) = ingest.parse_records(json.dumps({"records": [GOOD]}).encode("ascii"),
                                     f"application/json; charset={charset}")
    assert record.as_dict() == GOOD


def test_lone_surrogate_in_a_value_is_400_naming_the_field():
    error = refused(json.dumps({"records": [GOOD, {**GOOD, "Description": "heart \ud800"}]}))
    assert error.status_code == 400 and error.errors[0]["record"] == 1
    assert error.errors[0]["errors"] == ["'Description' has a lone surrogate U+D800 at character 6, not valid Unicode"]


def test_lone_surrogate_in_a_field_name_is_400():
    error = refused(records_json('{"Invoice\\udc00No": "536365"}'))
    assert error.errors[0]["errors"] == [
        "has a field name with a lone surrogate, not valid Unicode: 'Invoice\\udc00No'"]


def test_lone_surrogate_in_a_text_body_is_400():
    error = refused('{"records": [{"InvoiceNo": "\ud800"}]}')
    assert error.status_code == 400 and "lone surrogate U+D800 at character 28" in error.message


def test_surrogate_pairs_are_one_character_and_accepted():
    body = json.dumps({"records": [{**GOOD, "Description": "\U0001F600"}]})  # sent as "\ud83d\ude00"
    (record,) = ingest.parse_records(body, "application/json")
    assert record.to_entry().data.decode("utf-8") == record.to_json() and "\U0001F600" in record.to_json()


def test_invalid_utf8_is_400_naming_the_byte():
    error = refused(b'{"records": [{"InvoiceNo": "\xff"}]}')
    assert error.status_code == 400 and error.message == "the body is not valid utf-8: invalid start byte at byte 28"


def test_utf8_byte_order_mark_is_dropped():
    (record,) = ingest.parse_records(
        b"\xef\xbb\xbf" + f"{CSV_HEADER}\n536365,85123A,X,6,12/1/2010 8:26,2.55,,UK\n".encode(), "text/csv")
    assert record.as_dict()["InvoiceNo"] == "536365"


def test_utf8_byte_order_mark_on_a_latin1_body_is_400():
    error = refused(b"\xef\xbb\xbf" + json.dumps({"records": [GOOD]}).encode(), "application/json; charset=iso-8859-1")
    assert error.status_code == 400 and "UTF-8 byte order mark but is declared iso-8859-1" in error.message


def test_two_utf8_byte_order_marks_are_400():
    twice = refused(b"\xef\xbb\xbf" * 2 + json.dumps({"records": [GOOD]}).encode())
    assert "two UTF-8 byte order marks" in twice.message


@pytest.mark.parametrize("codec", ["utf-16", "utf-32"])
def test_utf16_and_utf32_bodies_are_400(codec):
    error = refused(json.dumps({"records": [GOOD]}).encode(codec))
    assert error.status_code == 400 and "UTF-16 or UTF-32 byte order mark" in error.message


@pytest.mark.parametrize(("body", "content_type"), [
    (b'{"records": [{"InvoiceNo": "53\x006365"}]}', "application/json"),
    (f"{CSV_HEADER}\n536365,85123A,X\x00,6,12/1/2010 8:26,2.55,,UK\n".encode(), "text/csv"),
])
def test_nul_byte_in_the_body_is_400(body, content_type):
    assert refused(body, content_type).message.startswith("the body has a NUL byte at byte ")


def test_records_that_are_not_objects_are_named():
    error = refused(records_json("1", "null", "[]", "true", '"536365"'))
    assert [e["record"] for e in error.errors] == [0, 1, 2, 3, 4]
    assert all(e["errors"][0].startswith("must be an object") for e in error.errors)


@pytest.mark.parametrize("body", [None, "", " \r\n\t "])
def test_empty_body_is_400(body):
    error = refused(body)
    assert error.status_code == 400 and error.message.startswith("the body is empty")


def test_base64_body_with_non_ascii_text_is_400():
    assert "not valid base64" in refused("eyJyZWNvcmRzIjogW119é", is_base64=True).message


def test_base64_body_of_invalid_utf8_is_400():
    assert "not valid utf-8" in refused("/w==", is_base64=True).message  # the byte 0xff


def test_csv_header_of_millions_of_columns_is_not_echoed():
    error = refused("A," * 2_400_000 + "\n", "text/csv")
    assert error.status_code == 400 and len(error.message) < 400
    assert "got 'A,A,A" in error.message and "...: it has 2400001 columns, not 8" in error.message


def test_csv_header_of_one_huge_field_is_400():
    error = refused("A" * 4_800_000 + "\n", "text/csv")
    assert error.message == "the CSV body does not parse at line 1: field larger than field limit (131072)"


def test_csv_header_with_wrong_names_names_the_column():
    error = refused(CSV_HEADER.replace("Description", "Desc") + "\n", "text/csv")
    assert error.message.endswith("column 3 is 'Desc', expected 'Description'")


def test_csv_quoted_newline_stays_in_its_field():
    text = f'{CSV_HEADER}\r\n536365,85123A,"HEART\r\nRED",6,12/1/2010 8:26,2.55,,UK\r\n536366,X\r\n'
    first, second = ingest._csv_records(text)
    assert first["Description"] == "HEART\r\nRED"
    assert (second.line, second.fields) == (4, 2)  # the physical line, after the quoted newline


def test_csv_quote_inside_an_unquoted_field_is_kept_as_written():
    (record,) = ingest.parse_records(f'{CSV_HEADER}\n536365,85123A,5" HEART,6,12/1/2010 8:26,2.55,,UK\n', "text/csv")
    assert record.as_dict()["Description"] == '5" HEART'


def test_csv_text_after_a_closing_quote_is_400_naming_the_line():
    error = refused(f'{CSV_HEADER}\n536365,"85123A"X,d,6,12/1/2010 8:26,2.55,,UK\n', "text/csv")
    assert error.message == "the CSV body does not parse at line 2: ',' expected after '\"'"


def test_csv_unterminated_quote_is_400():
    error = refused(f'{CSV_HEADER}\n536365,85123A,"HEART,6,12/1/2010 8:26,2.55,,UK\n', "text/csv")
    assert error.message == "the CSV body does not parse at line 2: unexpected end of data"


def test_duplicate_field_in_a_record_is_400_naming_it():
    error = refused(records_json(json.dumps(GOOD), json.dumps(GOOD)[:-1] + ', "Quantity": "6"}'))
    assert error.errors == [{"record": 1, "errors": ["has the field 'Quantity' twice"]}]


def test_duplicate_records_key_is_400():
    assert refused('{"records": [], "records": [{}]}').message == "the JSON body has the field 'records' twice"


def test_long_content_type_is_not_echoed():
    error = refused(json.dumps({"records": [GOOD]}), "text/" + "x" * 100_000)
    assert error.status_code == 415 and len(error.message) < 300


def test_answer_to_huge_invalid_values_stays_small():
    error = refused(json.dumps({"records": [{**GOOD, "InvoiceNo": "5" * 100_000, "Quantity": "x" * 100_000}]}))
    assert error.status_code == 400 and len(json.dumps(error.to_dict())) < 2_000


def test_shown_escapes_invisible_characters_and_cuts_long_values():
    assert ingest.shown("a\x00\ud800") == "'a\\x00\\ud800'"
    assert ingest.shown("x" * 1000) == repr("x" * 100) + "..."


def test_more_than_500_records_with_duplicate_fields_is_413_not_a_list_of_each():
    error = refused(records_json(*['{"InvoiceNo": "1", "InvoiceNo": "2"}'] * 10_000))
    assert error.status_code == 413 and error.errors == []


# --- the model both bodies are validated by (IngestRequest, RawRecord) ----------------------------

@pytest.mark.parametrize(("value", "written"), [(6, "6"), (-1, "-1"), (0, "0")])
def test_quantity_as_a_json_number_is_taken_as_written(value, written):
    (record,) = ingest.parse_records(json.dumps({"records": [{**GOOD, "Quantity": value}]}), "application/json")
    assert record.Quantity == written


def test_a_json_number_keeps_the_digits_it_was_written_with():
    body = '{"records": [' + json.dumps(GOOD).replace('"27.50"', "27.500") + "]}"
    (record,) = ingest.parse_records(body, "application/json")
    assert record.UnitPrice == "27.500"


@pytest.mark.parametrize("value", [[6], [], {"n": 6}, True, False, [[["6"]]]])
def test_a_field_of_the_wrong_json_type_is_named(value):
    error = refused(json.dumps({"records": [GOOD, {**GOOD, "Quantity": value}]}))
    assert error.status_code == 400 and error.message == "1 of 2 records are invalid; nothing was accepted"
    assert error.errors == [{"record": 1, "errors": ["Quantity must be a string or a number"]}]


def test_every_field_of_the_wrong_type_is_named_in_header_order():
    error = refused(json.dumps({"records": [{**GOOD, "Country": [], "InvoiceNo": True, "UnitPrice": {"a": {}}}]}))
    assert error.errors == [{"record": 0, "errors": ["InvoiceNo must be a string or a number",
                                                     "UnitPrice must be a string or a number",
                                                     "Country must be a string or a number"]}]


def test_501_records_are_413_naming_the_count_and_nothing_else():
    error = refused(json.dumps({"records": [{"Quantity": [1]}] * 501}))
    assert (error.status_code, error.message, error.errors) == (
        413, "the request has 501 records; at most 500 are accepted per request", [])


def test_500_records_are_accepted():
    assert len(ingest.parse_records(json.dumps({"records": [GOOD] * 500}), "application/json")) == 500


def test_501_csv_rows_are_413():
    body = CSV_HEADER + "\n" + "536365,85123A,X,6,12/1/2010 8:26,2.55,,UK\n" * 501
    assert refused(body, "text/csv").status_code == 413


def test_unknown_keys_are_ignored_even_nested_objects():
    body = {"records": [{**GOOD, "Extra": {"deep": [1, {"x": None}]}, "invoiceno": "lower"}], "meta": {"a": [{}]}}
    (record,) = ingest.parse_records(json.dumps(body), "application/json")
    assert record.as_dict() == GOOD and "Extra" not in record.to_json()


@pytest.mark.parametrize(("document", "message"), [
    ({"records": None}, '"records" must be an array of objects'),
    ({"records": "536365"}, '"records" must be an array of objects'),
    ({"records": {"0": GOOD}}, '"records" must be an array of objects'),
    ({"records": []}, "the request has no records"),
    ({"record": [GOOD]}, 'the JSON body must be an object {"records": [...]}'),
    (None, 'the JSON body must be an object {"records": [...]}'),
    ("records", 'the JSON body must be an object {"records": [...]}'),
    (5, 'the JSON body must be an object {"records": [...]}'),
])
def test_a_body_of_the_wrong_shape_is_400_saying_what_it_should_be(document, message):
    error = refused(json.dumps(document))
    assert (error.status_code, error.message, error.errors) == (400, message, [])


@pytest.mark.parametrize("item", [None, [], [GOOD], 5, "536365", True])
def test_null_and_other_non_objects_in_records_are_named(item):
    error = refused(json.dumps({"records": [GOOD, item]}))
    expected = f"must be an object with the fields {', '.join(ingest.RAW_FIELDS)}"
    assert error.errors == [{"record": 1, "errors": [expected]}]


def test_an_empty_record_names_every_missing_field():
    error = refused(json.dumps({"records": [{}]}))
    assert error.errors == [{"record": 0, "invoice_no": None, "errors": [
        f"{name} is missing" for name in contract.REQUIRED_FIELDS]}]


def test_unreadable_records_are_named_alone_before_any_field_rule():
    error = refused(records_json('{"InvoiceNo": "1", "InvoiceNo": "2"}', "{}", json.dumps(GOOD)))
    assert error.message == ("1 of 3 records have a duplicate field or text that is not valid Unicode; "
                             "nothing was accepted")
    assert error.errors == [{"record": 0, "errors": ["has the field 'InvoiceNo' twice"]}]


def test_csv_rows_are_validated_by_the_same_model_as_json():
    row = "536365,85123A,X,six,12/1/2010 8:26,2.55,,UK"
    from_csv = refused(f"{CSV_HEADER}\n{row}\n", "text/csv")
    from_json = refused(json.dumps({"records": [dict(zip(ingest.RAW_FIELDS, row.split(","), strict=True))]}))
    assert from_csv.errors == [{**from_json.errors[0], "line": 2}]
    assert from_csv.errors[0]["errors"] == ["Quantity 'six' is not a whole number"]


def test_the_model_validates_python_data_as_the_api_does():
    request = ingest.IngestRequest.model_validate({"records": [GOOD, {**GOOD, "Quantity": 2}]})
    assert [r.Quantity for r in request.records] == ["-1", "2"]
    with pytest.raises(ValidationError, match="data_contract"):
        ingest.IngestRequest.model_validate({"records": [{**GOOD, "UnitPrice": "abc"}]})
    with pytest.raises(ValidationError, match="string_type"):
        ingest.RawRecord.model_validate({**GOOD, "Quantity": True})
    assert ingest.RawRecord.of({"InvoiceNo": "x"}).as_dict()["StockCode"] is None  # not validated


# --- what the Kinesis store refuses becomes the HTTP answer here ------------------------------------

class _Kinesis:
    def __init__(self, fail: bool = False) -> None:
        self.fail, self.calls = fail, 0

    def put_records(self, StreamName, Records):  # noqa: N803 - boto3's names
        self.calls += 1
        if self.fail:
            return {"FailedRecordCount": len(Records), "Records": [{"ErrorCode": "InternalFailure"} for _ in Records]}
        return {"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1"} for _ in Records]}


NO_WAIT = RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0)


def test_a_record_over_the_kinesis_limit_is_413_naming_the_limit():
    client = _Kinesis()
    with pytest.raises(InvalidRequestError) as caught:
        ingest.send_records([ingest.RawRecord.of({**GOOD, "Description": "x" * (1024 * 1024)})], "s", client,
                            retry=NO_WAIT)
    assert caught.value.status_code == 413 and "exceeds the Kinesis limit of 1048576 bytes" in caught.value.message
    assert client.calls == 0


def test_a_record_without_a_partition_key_is_400():
    with pytest.raises(InvalidRequestError) as caught:
        ingest.send_records([ingest.RawRecord.of({**GOOD, "InvoiceNo": " "})], "s", _Kinesis(), retry=NO_WAIT)
    assert caught.value.status_code == 400 and "partition key must be 1 to 256 characters" in caught.value.message


def test_a_stream_that_keeps_refusing_is_503_with_the_cause_chained():
    from aws_lambda_powertools.event_handler.exceptions import ServiceUnavailableError

    from ecomflow.errors import DeliveryError

    with pytest.raises(ServiceUnavailableError) as caught:
        ingest.send_records([ingest.RawRecord.of(GOOD)], "s", _Kinesis(fail=True), retry=NO_WAIT, sleep=lambda s: None)
    assert caught.value.status_code == 503 and "retry later" in caught.value.msg
    assert isinstance(caught.value.__cause__, DeliveryError)


def test_invalid_request_error_is_a_powertools_http_error_with_a_capped_message():
    from aws_lambda_powertools.event_handler.exceptions import ServiceError

    error = InvalidRequestError(400, "x" * 1000, [{"record": 0, "errors": ["y" * 1000]}])
    assert isinstance(error, ServiceError) and error.msg == error.message == str(error) == "x" * 300 + "..."
    assert error.to_dict() == {"statusCode": 400, "message": "x" * 300 + "...",
                               "errors": [{"record": 0, "errors": ["y" * 300 + "..."]}]}
