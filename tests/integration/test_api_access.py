"""Who may do what, through the local API over HTTP, with tokens from moto's Cognito over HTTP.

Every request goes through `ecomflow.local.api_local` behind the Cognito authorizer of the local
pools (signature against the pool's JWKS served by moto, issuer, expiry, token use, the method's
scopes) and then the real Lambdas (claims -> role). Tokens come from `ecomflow token`'s code
(`devtools.users.local_token`): people sign in with USER_PASSWORD_AUTH, producers use the
client-credentials endpoint. Hostile tokens are made from real ones.
"""

from __future__ import annotations

import base64
import http.client
import json
import time
from decimal import Decimal

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from ecomflow import aws
from ecomflow.api.access import Role
from ecomflow.devtools.stream_demo import lambda_environment
from ecomflow.devtools.users import local_token, sign_in
from ecomflow.local import cognito_local
from ecomflow.local.api_local import start_api
from ecomflow.local.localstack import create_stream_resources
from ecomflow.stores import dynamodb

pytestmark = pytest.mark.integration

STREAM, INVOICES, CUSTOMERS = "access-records", "AccessInvoice", "AccessCustomer"
RECORD = {"InvoiceNo": "536999", "StockCode": "85123A", "Description": "HEART", "Quantity": "6",
          "InvoiceDate": "12/1/2010 8:26", "UnitPrice": "2.55", "CustomerID": "17850", "Country": "United Kingdom"}
ROUTES = {
    "post": ("POST", "/records"),
    "invoice": ("GET", "/invoices/536365"),
    "item": ("GET", "/invoices/536365/items/85123A"),
    "own_list": ("GET", "/customers/17850/invoices"),
}


def line(rid: str, code: str, customer_id: str) -> dict:
    return {"record_id": rid, "invoice_no": "536365", "stock_code": code, "description": "X", "quantity": 6,
            "unit_price": Decimal("2.55"), "revenue": Decimal("15.3"), "invoice_ts": "2010-12-01T08:26:00",
            "customer_id": customer_id, "country": "United Kingdom", "line_type": "sale"}


@pytest.fixture(scope="module")
def api(local_stack):
    """The local API on a free port, with invoice 536365 mixing customers 17850 (3 lines) and 13047 (1)."""
    create_stream_resources(STREAM, INVOICES, CUSTOMERS)
    dynamodb.save_lines(aws.client("dynamodb"), INVOICES, CUSTOMERS,
                        [line("a1", "85123A", "17850"), line("a2", "85123A", "13047"), line("a3", "71053", "17850"),
                         line("a4", "22633", "17850")])
    with lambda_environment(STREAM, INVOICES, CUSTOMERS):
        running = start_api()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def tokens(api):
    return {"producer": local_token(Role.PRODUCER), "analyst": local_token(Role.ANALYST),
            "customer": local_token(Role.CUSTOMER, customer_id="17850"),
            "other_customer": local_token(Role.CUSTOMER, customer_id="13047"),
            "stranger": local_token(Role.CUSTOMER, customer_id="99")}


def send(api, method: str, path: str, token: str | None = None, authorization: str | None = None,
         body: dict | None = None) -> tuple[int, dict]:
    host, port = api.url.removeprefix("http://").split(":")
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if authorization is not None:
        headers["Authorization"] = authorization
    data = json.dumps(body if body is not None else {"records": [RECORD]}).encode() if method == "POST" else None
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=data, headers=headers)
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read() or b"{}")
    finally:
        conn.close()


def payload(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


def segment(document: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


# --- each role against each route -------------------------------------------------------------------

EXPECTED = {  # who -> route -> status
    "producer": {"post": 202, "invoice": 403, "item": 403, "own_list": 403},
    "analyst": {"post": 403, "invoice": 200, "item": 200, "own_list": 200},
    "customer": {"post": 403, "invoice": 200, "item": 200, "own_list": 200},
    "other_customer": {"post": 403, "invoice": 200, "item": 200, "own_list": 403},
    "stranger": {"post": 403, "invoice": 404, "item": 404, "own_list": 403},
}


@pytest.mark.parametrize(("who", "route"), [(w, r) for w in EXPECTED for r in ROUTES])
def test_each_role_against_each_route(api, tokens, who, route):
    method, path = ROUTES[route]
    status, body = send(api, method, path, tokens[who])
    assert status == EXPECTED[who][route], body


@pytest.mark.parametrize("route", list(ROUTES))
def test_no_token_is_401_on_every_route(api, route):
    assert send(api, *ROUTES[route]) == (401, {"statusCode": 401, "message": "Unauthorized"})


def test_a_customer_reads_their_own_lines_of_a_mixed_invoice_and_nothing_else(api, tokens):
    status, body = send(api, "GET", "/invoices/536365", tokens["customer"])
    assert status == 200 and sorted(x["record_id"] for x in body["lines"]) == ["a1", "a3", "a4"]
    status, body = send(api, "GET", "/invoices/536365", tokens["other_customer"])
    assert status == 200 and [x["record_id"] for x in body["lines"]] == ["a2"]
    status, body = send(api, "GET", "/invoices/536365/items/85123A", tokens["other_customer"])
    assert [x["customer_id"] for x in body["lines"]] == ["13047"]


def test_another_customers_invoice_is_404_exactly_like_an_absent_one(api, tokens):
    theirs = send(api, "GET", "/invoices/536365", tokens["stranger"])
    absent = send(api, "GET", "/invoices/536366", tokens["stranger"])
    assert theirs == (404, {"statusCode": 404, "message": "invoice 536365 not found"})
    assert absent == (404, {"statusCode": 404, "message": "invoice 536366 not found"})


def test_a_customer_reads_only_their_own_invoice_list(api, tokens):
    status, body = send(api, "GET", "/customers/17850/invoices", tokens["customer"])
    assert status == 200 and [i["line_count"] for i in body["invoices"]] == [3]
    assert send(api, "GET", "/customers/17850/invoices", tokens["other_customer"])[0] == 403
    assert send(api, "GET", "/customers/13047/invoices", tokens["other_customer"])[0] == 200


def test_an_analyst_reads_everything(api, tokens):
    status, body = send(api, "GET", "/invoices/536365", tokens["analyst"])
    assert status == 200 and body["count"] == 4
    assert send(api, "GET", "/customers/13047/invoices", tokens["analyst"])[0] == 200


def test_a_producers_post_reaches_the_stream(api, tokens):
    assert send(api, "POST", "/records", tokens["producer"]) == (202, {"accepted": 1})


def test_pages_over_http(api, tokens):
    status, first = send(api, "GET", "/invoices/536365?limit=2", tokens["customer"])
    assert (status, first["count"]) == (200, 2) and first["next_page"]
    status, second = send(api, "GET", f"/invoices/536365?limit=2&page={first['next_page']}", tokens["customer"])
    ids = [x["record_id"] for x in first["lines"] + second["lines"]]
    assert status == 200 and sorted(ids) == ["a1", "a3", "a4"]
    assert send(api, "GET", f"/invoices/536366?page={first['next_page']}", tokens["analyst"])[0] == 400


# --- hostile tokens: 401, and no Lambda runs -----------------------------------------------------------

@pytest.mark.parametrize("authorization", ["Bearer garbage", "Bearer a.b.c", "Basic dXNlcjpwYXNz", "Bearer ",
                                           "Bearer " + "x" * 5000])
def test_garbage_is_401(api, authorization):
    assert send(api, "GET", "/invoices/536365", authorization=authorization)[0] == 401


def test_the_bare_token_is_accepted_as_api_gateway_does(api, tokens):
    assert send(api, "GET", "/invoices/536365", authorization=tokens["analyst"])[0] == 200


def test_a_forged_signature_is_401(api, tokens):
    head, body, _ = tokens["analyst"].split(".")
    forged_key = RSAKey.generate_key(2048, parameters={"kid": "dummy"})
    forged = jwt.encode({"alg": "RS256", "kid": "dummy"}, payload(tokens["analyst"]), forged_key)
    assert send(api, "GET", "/invoices/536365", forged)[0] == 401
    # a real signature over other claims: a customer making themselves an analyst
    customer_head, _, customer_signature = tokens["customer"].split(".")
    promoted = {**payload(tokens["customer"]), "cognito:groups": ["analysts"]}
    assert send(api, "GET", "/invoices/536365",
                f"{customer_head}.{segment(promoted)}.{customer_signature}")[0] == 401


def test_alg_none_is_401(api, tokens):
    unsigned = f"{segment({'alg': 'none', 'kid': 'dummy'})}.{segment(payload(tokens['analyst']))}."
    assert send(api, "GET", "/invoices/536365", unsigned)[0] == 401


def test_a_token_of_another_pool_is_401(api, tokens):
    # moto signs every pool's tokens with one key: only the issuer tells this one apart
    cognito = aws.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName="not-ecomflow")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(UserPoolId=pool, ClientName="other")["UserPoolClient"]["ClientId"]
    cognito.create_group(UserPoolId=pool, GroupName="analysts")
    cognito.admin_create_user(UserPoolId=pool, Username="eve", MessageAction="SUPPRESS")
    cognito.admin_set_user_password(UserPoolId=pool, Username="eve", Password="Passw0rd!Passw0rd", Permanent=True)
    cognito.admin_add_user_to_group(UserPoolId=pool, Username="eve", GroupName="analysts")
    token = cognito.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={
        "USERNAME": "eve", "PASSWORD": "Passw0rd!Passw0rd"})["AuthenticationResult"]["AccessToken"]
    assert send(api, "GET", "/invoices/536365", token)[0] == 401


def test_an_expired_token_is_401(api, tokens):
    from moto.utilities.utils import load_resource

    # signed with the pool's own key (what its JWKS serves), an hour past its expiry
    key = RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))
    claims = {**payload(tokens["analyst"]), "iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}
    expired = jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, key)
    assert send(api, "GET", "/invoices/536365", expired)[0] == 401
    fresh = jwt.encode({"alg": "RS256", "kid": "dummy"}, {**claims, "exp": int(time.time()) + 600}, key)
    assert send(api, "GET", "/invoices/536365", fresh)[0] == 200  # the same token, unexpired, is let in


def test_an_id_token_where_an_access_token_is_needed_is_401(api):
    id_token = local_token(Role.ANALYST, kind="id")
    assert payload(id_token)["token_use"] == "id"
    assert send(api, "GET", "/invoices/536365", id_token)[0] == 401


def test_a_token_of_another_app_client_of_our_pool_is_401(api, tokens):
    # API Gateway lets it through (access tokens have no audience); the Lambda refuses it
    cognito = aws.client("cognito-idp")
    pools = cognito_local.ensure_pools()
    other = cognito.create_user_pool_client(UserPoolId=pools.staff_pool_id, ClientName="someone-elses-app",
                                            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])["UserPoolClient"]
    cognito.admin_set_user_password(UserPoolId=pools.staff_pool_id, Username="analyst@ecomflow.local",
                                    Password="Passw0rd!Passw0rd", Permanent=True)
    token = sign_in(cognito, pools.staff_pool_id, other["ClientId"], "analyst@ecomflow.local",
                    "Passw0rd!Passw0rd")["AccessToken"]  # password and TOTP code, as through our app
    assert payload(token)["client_id"] == other["ClientId"]
    assert send(api, "GET", "/invoices/536365", token) == (401, {"statusCode": 401, "message": "Unauthorized"})


def test_staff_sign_in_asks_for_a_totp_code(api, tokens):
    cognito = aws.client("cognito-idp")
    pools = cognito_local.ensure_pools()
    cognito.admin_set_user_password(UserPoolId=pools.staff_pool_id, Username="analyst@ecomflow.local",
                                    Password="Passw0rd!Passw0rd", Permanent=True)
    answer = cognito.initiate_auth(ClientId=pools.staff_app_client, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={
        "USERNAME": "analyst@ecomflow.local", "PASSWORD": "Passw0rd!Passw0rd"})
    assert answer["ChallengeName"] == "SOFTWARE_TOKEN_MFA" and "AuthenticationResult" not in answer


def test_a_person_in_no_group_is_403(api):
    cognito = aws.client("cognito-idp")
    pools = cognito_local.ensure_pools()
    cognito.admin_create_user(UserPoolId=pools.staff_pool_id, Username="nobody@ecomflow.local",
                              MessageAction="SUPPRESS", UserAttributes=[{"Name": "email",
                                                                          "Value": "nobody@ecomflow.local"}])
    cognito.admin_set_user_password(UserPoolId=pools.staff_pool_id, Username="nobody@ecomflow.local",
                                    Password="Passw0rd!Passw0rd", Permanent=True)
    token = cognito.initiate_auth(ClientId=pools.staff_app_client, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={
        "USERNAME": "nobody@ecomflow.local", "PASSWORD": "Passw0rd!Passw0rd"})["AuthenticationResult"]["AccessToken"]
    assert send(api, "GET", "/invoices/536365", token) == (
        403, {"statusCode": 403, "message": "the token names no role in this API"})


def test_undefined_methods_are_api_gateways_403_without_a_lambda(api, tokens):
    assert send(api, "GET", "/records", tokens["producer"]) == (
        403, {"statusCode": 403, "message": "Missing Authentication Token"})


# --- the client-credentials endpoint moto lacks (ecomflow.local.moto_server) -----------------------------

def test_the_token_endpoint_refuses_a_wrong_secret_and_a_scope_not_allowed(api, tokens):
    from ecomflow.errors import LocalStackError

    pools = cognito_local.ensure_pools()
    producer = payload(tokens["producer"])
    cognito = aws.client("cognito-idp")
    secret = cognito.describe_user_pool_client(UserPoolId=pools.staff_pool_id,
                                               ClientId=producer["client_id"])["UserPoolClient"]["ClientSecret"]
    with pytest.raises(LocalStackError, match="invalid_client"):
        cognito_local.post_token_request(pools.token_endpoint(), producer["client_id"], "not-the-secret")
    with pytest.raises(LocalStackError, match="invalid_scope"):
        cognito_local.post_token_request(pools.token_endpoint(), producer["client_id"], secret,
                                         ("ecomflow/sales.read",))
    answer = cognito_local.post_token_request(pools.token_endpoint(), producer["client_id"], secret)
    assert (answer["token_type"], payload(answer["access_token"])["scope"]) == ("Bearer", "ecomflow/records.write")


def test_a_person_cannot_use_the_token_endpoint(api):
    from ecomflow.errors import LocalStackError

    pools = cognito_local.ensure_pools()
    with pytest.raises(LocalStackError, match="invalid_client"):  # the app clients have no secret
        cognito_local.post_token_request(pools.token_endpoint(), pools.staff_app_client, "")


# --- `ecomflow token` ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "path", "expected"), [
    (["token", "analyst"], "/invoices/536365", 200),
    (["token", "customer", "--customer-id", "17850"], "/customers/17850/invoices", 200),
    (["token", "customer", "--customer-id", "17850"], "/customers/13047/invoices", 403),
    (["token", "producer", "till-7"], "/invoices/536365", 403),
])
def test_the_token_command_prints_a_token_the_api_takes(api, capsys, argv, path, expected):
    from ecomflow.cli.main import main as cli_main

    assert cli_main(argv) == 0
    printed = capsys.readouterr().out.strip()
    assert send(api, "GET", path, printed)[0] == expected


def test_the_token_command_refuses_a_customer_without_an_id(api, caplog):
    from ecomflow.cli.main import main as cli_main

    assert cli_main(["token", "customer"]) == 2
    assert "--customer-id must be the customer's id" in caplog.text
