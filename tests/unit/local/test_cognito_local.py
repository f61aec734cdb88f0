"""The local Cognito authorizer's rules with a key of our own (moto's Cognito: tests/integration/test_api_access.py)."""

from __future__ import annotations

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from ecomflow.local.cognito_local import CognitoAuthorizer, GatewayRefusal, claim_strings

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_staff"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
NOW = 1_700_000_000
SCOPES = {("GET", "/invoices/{invoice_no}"): ("aws.cognito.signin.user.admin",), ("GET", "/open"): ()}


def authorizer(fetch=lambda url: KeySet([KEY])) -> CognitoAuthorizer:
    return CognitoAuthorizer({ISSUER: "http://jwks"}, SCOPES, fetch=fetch, clock=lambda: NOW)


def token(**claims) -> str:
    base = {"iss": ISSUER, "token_use": "access", "scope": "aws.cognito.signin.user.admin", "exp": NOW + 60,
            "iat": NOW, "sub": "s", "client_id": "c", "cognito:groups": ["analysts", "admins"]}
    return jwt.encode({"alg": "RS256", "kid": "k1"}, {**base, **claims}, KEY)


def status(headers: dict[str, str], resource: str = "/invoices/{invoice_no}", auth=None) -> int:
    try:
        (auth or authorizer())("GET", resource, headers)
    except GatewayRefusal as refusal:
        return refusal.status
    return 200


def test_claims_reach_the_lambda_as_api_gateway_passes_them():
    claims = authorizer()("GET", "/invoices/{invoice_no}", {"authorization": f"Bearer {token()}"})
    assert claims["cognito:groups"] == "analysts,admins"
    assert claims["exp"] == "Tue Nov 14 22:14:20 UTC 2023" and claims["iat"] == "Tue Nov 14 22:13:20 UTC 2023"
    assert all(isinstance(value, str) for value in claims.values())


def test_claim_strings_keep_other_numbers_as_digits():
    assert claim_strings({"auth_time": 1680629979, "email_verified": True}) == {"auth_time": "1680629979",
                                                                                "email_verified": "true"}


def test_expired_by_a_second_is_401():
    assert status({"Authorization": token(exp=NOW)}) == 401
    assert status({"Authorization": token(exp=NOW + 1)}) == 200


def test_a_method_with_scopes_wants_an_access_token_with_one_of_them():
    assert status({"Authorization": token(token_use="id")}) == 401
    assert status({"Authorization": token(scope="ecomflow/records.write")}) == 403


def test_a_method_without_scopes_wants_an_id_token():
    assert status({"Authorization": token(token_use="id")}, "/open") == 200
    assert status({"Authorization": token()}, "/open") == 401


def test_no_or_an_empty_header_is_401():
    assert status({}) == 401
    assert status({"Authorization": "Bearer   "}) == 401


def test_a_token_whose_signed_issuer_differs_from_the_one_it_claims_is_401():
    assert status({"Authorization": token(iss=ISSUER + "x")}) == 401


def test_a_jwks_that_cannot_be_read_is_a_500_not_a_401():
    def unreachable(url):
        raise OSError("connection refused")

    assert status({"Authorization": token()}, auth=authorizer(fetch=unreachable)) == 500


def test_the_jwks_is_fetched_once_per_pool():
    fetched = []

    def fetch(url):
        fetched.append(url)
        return KeySet([KEY])

    auth = authorizer(fetch)
    for _ in range(3):
        assert status({"Authorization": token()}, auth=auth) == 200
    assert fetched == ["http://jwks"]


def test_an_hs256_token_keyed_with_the_public_key_is_401():
    import base64
    import hashlib
    import hmac
    import json

    def part(document: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")

    claims = {"iss": ISSUER, "token_use": "access", "exp": NOW + 60, "scope": "aws.cognito.signin.user.admin"}
    signing_input = part({"alg": "HS256", "kid": "k1"}) + "." + part(claims)
    signature = hmac.new(KEY.as_pem(private=False), signing_input.encode(), hashlib.sha256).digest()
    confused = f"{signing_input}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"
    assert status({"Authorization": confused}) == 401


@pytest.mark.parametrize("value", ["a.b", "a.b.c.d.e", "..", "e30.e30.", "Bearer"])
def test_shapes_that_are_no_jws_are_401(value):
    assert status({"Authorization": value}) == 401
