"""The local stack's user pools, and the local stand-in for API Gateway's Cognito user pool authorizer.

moto's Cognito (cognito-idp, on the local moto server) issues RS256 JWTs for users and serves each
pool's JWKS over HTTP; `ecomflow.local.moto_server` adds the client-credentials token endpoint it
lacks. `ensure_pools` creates, once, the two pools of cloudformation/api.yaml (staff with MFA on,
customers, their groups, the resource server and its scopes, a domain, the app clients) on the
local moto server. `CognitoAuthorizer` then does what API Gateway does before any Lambda runs:

- a token in the `Authorization` header (bare or after `Bearer `), else 401;
- a JWS signed RS256 by a key of the JWKS of one of the authorizer's pools, fetched over HTTP
  from moto (the issuer `https://cognito-idp.<region>.amazonaws.com/<pool>` names the pool), else
  401: a forged signature, `alg: none`, a token of another pool, a JWE, garbage;
- not expired, else 401;
- for a method with OAuth scopes (all of ours, `ecomflow.api.access.METHOD_SCOPES`) an access
  token (an id token is 401) holding one of the method's scopes, else 403;
- and on success the token's claims in `requestContext.authorizer.claims`, as API Gateway passes
  them: every value a string, lists comma-separated, `exp` and `iat` as `Tue Apr 04 18:39:39 UTC 2023`.

API Gateway does not check which app client a token came from (access tokens have no `aud`); the
Lambdas do (`ecomflow.api.access`). moto signs every pool's tokens with one key pair that ships
with moto: locally a token is only as secret as moto's source, which is why this runs on
127.0.0.1 only.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from ecomflow.api import access
from ecomflow.errors import LocalStackError
from ecomflow.local.localstack import HOST


class GatewayRefusal(Exception):
    """An answer API Gateway gives itself, before or instead of calling a Lambda (401, 403, ...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


STAFF_POOL = "ecomflow-local-staff"
CUSTOMER_POOL = "ecomflow-local-customers"
STAFF_APP = "ecomflow-local-staff"
CUSTOMER_APP = "ecomflow-local-shop"
DOMAIN = "ecomflow-local"
PASSWORD_POLICY = {"MinimumLength": 12, "RequireLowercase": True, "RequireUppercase": True, "RequireNumbers": True,
                   "RequireSymbols": True, "TemporaryPasswordValidityDays": 3}
APP_AUTH_FLOWS = ["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
CLAIM_TIME = "%a %b %d %H:%M:%S UTC %Y"  # how API Gateway passes exp and iat on


def issuer(region: str, pool_id: str) -> str:
    """A pool's issuer, the `iss` of its tokens."""
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


@dataclass(frozen=True)
class LocalPools:
    """The local stack's two pools and their app clients (as cloudformation/api.yaml has them)."""

    endpoint_url: str
    region: str
    staff_pool_id: str
    customer_pool_id: str
    staff_app_client: str
    customer_app_client: str

    @property
    def staff_issuer(self) -> str:
        return issuer(self.region, self.staff_pool_id)

    @property
    def customer_issuer(self) -> str:
        return issuer(self.region, self.customer_pool_id)

    def jwks_url(self, pool_id: str) -> str:
        """Where moto serves a pool's JWKS (on AWS: `<issuer>/.well-known/jwks.json`)."""
        return f"{self.endpoint_url}/{pool_id}/.well-known/jwks.json"

    def token_endpoint(self) -> str:
        """The staff pool's client-credentials endpoint (on AWS: `https://<domain>.auth.<region>...`)."""
        return f"{self.endpoint_url}/{self.staff_pool_id}/oauth2/token"

    def lambda_environment(self) -> dict[str, str]:
        """The Lambdas' access variables, as cloudformation/api.yaml sets them."""
        from ecomflow.config import ENV_APP_CLIENTS, ENV_CUSTOMER_ISSUER, ENV_STAFF_ISSUER

        return {ENV_STAFF_ISSUER: self.staff_issuer, ENV_CUSTOMER_ISSUER: self.customer_issuer,
                ENV_APP_CLIENTS: f"{self.staff_app_client},{self.customer_app_client}"}


def local_endpoint() -> str:
    """The moto server boto3 talks to; LocalStackError unless it is one on 127.0.0.1 (never AWS's Cognito)."""
    url = os.environ.get("AWS_ENDPOINT_URL") or ""
    if not url.startswith(f"http://{HOST}:"):
        raise LocalStackError("the local pools live on the local stack's moto server: run `ecomflow local up` "
                              f"(AWS_ENDPOINT_URL is {url or 'not set'})")
    return url.rstrip("/")


def _pool_named(cognito: Any, name: str) -> str | None:
    for page in cognito.get_paginator("list_user_pools").paginate(MaxResults=60):
        for pool in page["UserPools"]:
            if pool["Name"] == name:
                return str(pool["Id"])
    return None


def _client_named(cognito: Any, pool_id: str, name: str) -> str | None:
    for page in cognito.get_paginator("list_user_pool_clients").paginate(UserPoolId=pool_id, MaxResults=60):
        for client in page["UserPoolClients"]:
            if client["ClientName"] == name:
                return str(client["ClientId"])
    return None


def _ensure_group(cognito: Any, pool_id: str, group: str) -> None:
    try:
        cognito.create_group(UserPoolId=pool_id, GroupName=group)
    except cognito.exceptions.GroupExistsException:
        pass


def _ensure_pool(cognito: Any, name: str, **settings: Any) -> str:
    found = _pool_named(cognito, name)
    if found is not None:
        return found
    pool = cognito.create_user_pool(PoolName=name, AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
                                    AutoVerifiedAttributes=["email"], Policies={"PasswordPolicy": PASSWORD_POLICY},
                                    **settings)
    return str(pool["UserPool"]["Id"])


def _ensure_app_client(cognito: Any, pool_id: str, name: str) -> str:
    found = _client_named(cognito, pool_id, name)
    if found is not None:
        return found
    client = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName=name, GenerateSecret=False,
                                             ExplicitAuthFlows=APP_AUTH_FLOWS, PreventUserExistenceErrors="ENABLED")
    return str(client["UserPoolClient"]["ClientId"])


_ensuring = threading.Lock()


def ensure_pools(cognito: Any = None) -> LocalPools:
    """The local pools, created on the local moto server where missing (idempotent)."""
    from ecomflow import aws

    endpoint = local_endpoint()
    cognito = cognito or aws.client("cognito-idp")
    with _ensuring:
        staff = _ensure_pool(cognito, STAFF_POOL, UsernameAttributes=["email"])
        customers = _ensure_pool(cognito, CUSTOMER_POOL, AliasAttributes=["email"],
                                 UsernameConfiguration={"CaseSensitive": False})
        # as api.yaml: MFA (TOTP) required in the staff pool, optional for customers
        cognito.set_user_pool_mfa_config(UserPoolId=staff, MfaConfiguration="ON",
                                         SoftwareTokenMfaConfiguration={"Enabled": True})
        cognito.set_user_pool_mfa_config(UserPoolId=customers, MfaConfiguration="OPTIONAL",
                                         SoftwareTokenMfaConfiguration={"Enabled": True})
        _ensure_group(cognito, staff, access.ANALYSTS_GROUP)
        _ensure_group(cognito, customers, access.CUSTOMERS_GROUP)
        servers = cognito.list_resource_servers(UserPoolId=staff, MaxResults=50)["ResourceServers"]
        if not any(server["Identifier"] == access.RESOURCE_SERVER for server in servers):
            cognito.create_resource_server(UserPoolId=staff, Identifier=access.RESOURCE_SERVER, Name="EcomFlow API",
                                           Scopes=[{"ScopeName": name, "ScopeDescription": what}
                                                   for name, what in access.SCOPES.items()])
        if not cognito.describe_user_pool(UserPoolId=staff)["UserPool"].get("Domain"):
            cognito.create_user_pool_domain(UserPoolId=staff, Domain=f"{DOMAIN}-{staff.rsplit('_', 1)[-1][:12]}")
        pools = LocalPools(endpoint_url=endpoint, region=cognito.meta.region_name, staff_pool_id=staff,
                           customer_pool_id=customers,
                           staff_app_client=_ensure_app_client(cognito, staff, STAFF_APP),
                           customer_app_client=_ensure_app_client(cognito, customers, CUSTOMER_APP))
    return pools


# --- the authorizer ---------------------------------------------------------------------------------

def _refuse(status: int = 401) -> GatewayRefusal:
    return GatewayRefusal(status, "Unauthorized" if status == 401 else "Forbidden")


def _segment(text: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        return None


def claim_strings(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as API Gateway passes them to a Lambda: every value a string."""
    passed = {}
    for name, value in claims.items():
        if name in ("exp", "iat") and isinstance(value, int | float):
            passed[name] = datetime.fromtimestamp(value, UTC).strftime(CLAIM_TIME)
        elif isinstance(value, list):
            passed[name] = ",".join(str(item) for item in value)
        elif isinstance(value, bool):
            passed[name] = str(value).lower()
        else:
            passed[name] = str(value)
    return passed


def fetch_jwks(url: str) -> KeySet:
    """A JWKS over HTTP (loopback: never through a proxy)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as answer:
        return KeySet.import_key_set(json.loads(answer.read()))


class CognitoAuthorizer:
    """API Gateway's COGNITO_USER_POOLS authorizer over some pools: `(method, resource, headers) -> claims`."""

    def __init__(self, jwks_urls: Mapping[str, str], method_scopes: Mapping[tuple[str, str], tuple[str, ...]]
                 = access.METHOD_SCOPES, *, fetch: Callable[[str], KeySet] = fetch_jwks,
                 clock: Callable[[], float] = time.time) -> None:
        self.jwks_urls = dict(jwks_urls)  # issuer -> where its JWKS is served
        self.method_scopes = dict(method_scopes)
        self._fetch, self._clock = fetch, clock
        self._keys: dict[str, KeySet] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_pools(cls, pools: LocalPools) -> CognitoAuthorizer:
        """The authorizer of cloudformation/api.yaml: both local pools, the methods' scopes."""
        return cls({pools.staff_issuer: pools.jwks_url(pools.staff_pool_id),
                    pools.customer_issuer: pools.jwks_url(pools.customer_pool_id)})

    def _key_set(self, token_issuer: str) -> KeySet:
        with self._lock:
            if token_issuer not in self._keys:
                try:
                    self._keys[token_issuer] = self._fetch(self.jwks_urls[token_issuer])
                except (OSError, ValueError, JoseError) as exc:
                    raise GatewayRefusal(500, f"the JWKS of {token_issuer} cannot be read: {exc}") from None
            return self._keys[token_issuer]

    def verified_claims(self, token: str) -> dict[str, Any]:
        """The claims of a token one of the pools signed and that has not expired; GatewayRefusal(401) otherwise."""
        parts = token.split(".")
        header = _segment(parts[0]) if len(parts) == 3 else None
        payload = _segment(parts[1]) if header is not None else None
        if not isinstance(header, dict) or header.get("alg") != "RS256" or not isinstance(payload, dict):
            raise _refuse()
        token_issuer = payload.get("iss")
        if not isinstance(token_issuer, str) or token_issuer not in self.jwks_urls:
            raise _refuse()
        try:
            claims = jwt.decode(token, self._key_set(token_issuer), algorithms=["RS256"]).claims
        except (JoseError, ValueError):
            raise _refuse() from None
        expires = claims.get("exp")
        if not isinstance(expires, int | float) or expires <= self._clock() or claims.get("iss") != token_issuer:
            raise _refuse()
        return claims

    def __call__(self, method: str, resource: str, headers: Mapping[str, str]) -> dict[str, str]:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), "").strip()
        if value[:7].lower() == "bearer ":
            value = value[7:].strip()
        if not value:
            raise _refuse()
        claims = self.verified_claims(value)
        scopes = self.method_scopes.get((method, resource), ())
        if claims.get("token_use") != ("access" if scopes else "id"):
            raise _refuse()
        if scopes and not set(str(claims.get("scope", "")).split()) & set(scopes):
            raise _refuse(403)
        return claim_strings(claims)


def local_access() -> tuple[CognitoAuthorizer, dict[str, str]]:
    """The authorizer of the local pools and the Lambdas' access variables (the pools created if missing)."""
    pools = ensure_pools()
    return CognitoAuthorizer.for_pools(pools), pools.lambda_environment()


def post_token_request(url: str, client_id: str, secret: str, scopes: tuple[str, ...] = ()) -> dict[str, Any]:
    """A client-credentials token request (HTTP Basic), as a producer sends it; the JSON answer.

    Raises:
        LocalStackError: the endpoint refused (its OAuth error named).
    """
    form = "grant_type=client_credentials" + (f"&scope={'+'.join(scopes)}" if scopes else "")
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode("ascii")
    request = urllib.request.Request(url, data=form.encode("ascii"), method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {basic}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as answer:
            return dict(json.loads(answer.read()))
    except urllib.error.HTTPError as exc:
        raise LocalStackError(f"the token endpoint refused: {exc.code} {exc.read()[:200]!r}") from None
