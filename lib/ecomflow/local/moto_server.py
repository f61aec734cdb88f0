"""The local stack's moto server, with two of moto's lookups made as cheap as AWS's.

    python -m ecomflow.local.moto_server -H 127.0.0.1 -p 5000     # = python -m moto.server, patched

moto (5.2.5) is a faithful stand-in for what its APIs answer, but two of its lookups cost time in
proportion to everything the stand-in holds, where AWS's cost is bounded:

- Kinesis: appending a record asks the shard for its last sequence number by copying every key
  of the shard (`list(records.keys())[-1]`), so filling a shard is quadratic. Replaying the real
  file (541,909 lines) through the local API would slow to a crawl.
- DynamoDB: a Query by partition key sorts and scans every item of the table
  (`Table.all_items()`), 60 ms at 6,000 items and 200 ms at 20,000; `GET /invoices/{no}` is
  such a Query. DynamoDB reads one partition.

Profiled while the streaming benchmark ran, these two took about half of the server's time
(docs/benchmarks-streaming.md). The patches below give the same answers from the same data
structures: the last key of the shard's ordered dict, and for a Query of the table (not of an
index) only the items under its partition key, in the order `all_items` gives them. Everything
else is moto's own code. `tests/unit/local/test_moto_server.py` checks that patched and unpatched moto
answer alike.

One addition: moto's Cognito (cognito-idp) signs access and id tokens for users and serves each
pool's JWKS, but it has no OAuth 2.0 token endpoint, so machines cannot sign in with the
client-credentials grant, the flow the API's producers use. `POST /<user pool id>/oauth2/token`
(on Cognito: `https://<domain>.auth.<region>.amazoncognito.com/oauth2/token`) answers that grant
as Cognito does: the client's id and secret (HTTP Basic, or in the form), a client allowed the
`client_credentials` flow, scopes it is allowed and a resource server of the pool defines (all
its scopes when none are asked for), a pool with a domain; the access token is signed with the
pool's key (what its JWKS serves) and holds Cognito's claims (`sub` = `client_id`, `scope`,
`token_use` access, `iss`, `exp` after the client's access-token validity).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import sys
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

_query_scope = threading.local()  # the (table, partition key) of the Query running on this thread


def _last_sequence_number(shard: Any) -> int:
    return next(reversed(shard.records)) if shard.records else 0


def _patch_kinesis() -> None:
    from moto.kinesis.models import Shard

    Shard.get_max_sequence_number = _last_sequence_number  # type: ignore[method-assign,assignment]


def _patch_dynamodb() -> None:
    from moto.dynamodb.models.table import Table

    all_items, query = Table.all_items, Table.query

    @functools.wraps(all_items)
    def partition_items(self: Any) -> list[Any]:
        scope = getattr(_query_scope, "key", None)
        if scope is None or scope[0] is not self:
            return all_items(self)
        bucket = self.items.get(scope[1])
        if not bucket:
            return []
        items = list(bucket.values()) if self.range_key_attr else [bucket]
        return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)

    @functools.wraps(query)
    def query_partition(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name or hash_key is None:
            return query(self, hash_key, *args, **kwargs)
        _query_scope.key = (self, hash_key)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _query_scope.key = None

    Table.all_items = partition_items  # type: ignore[method-assign]
    Table.query = query_partition  # type: ignore[method-assign]


TOKEN_PATH = "/oauth2/token"
_VALIDITY_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def _oauth_error(status: int, error: str) -> tuple[int, dict[str, str], str]:
    return status, {"Content-Type": "application/json"}, json.dumps({"error": error})


def _find_pool(pool_id: str) -> Any:
    from moto.cognitoidp.models import cognitoidp_backends

    for account in list(cognitoidp_backends):
        for backend in cognitoidp_backends[account].values():
            if pool_id in backend.user_pools:
                return backend.user_pools[pool_id]
    return None


def _client_credentials(headers: Any, form: dict[str, list[str]]) -> tuple[str, str] | None:
    auth = headers.get("Authorization") or ""
    if auth.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return client_id, secret
    if "client_id" in form and "client_secret" in form:
        return form["client_id"][0], form["client_secret"][0]
    return None


def _form(request: Any) -> dict[str, list[str]]:
    """The request's urlencoded form (Werkzeug may have parsed it already)."""
    parsed = getattr(request, "form", None)
    if parsed:
        return {key: parsed.getlist(key) for key in parsed}
    data = request.get_data(as_text=True) if hasattr(request, "get_data") else ""
    return parse_qs(data or "")


def token_endpoint(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    """Cognito's `/oauth2/token` for the client-credentials grant (the one grant machines use)."""
    from joserfc import jwt

    pool_id = urlsplit(full_url).path.strip("/").split("/")[0]
    pool = _find_pool(pool_id)
    if pool is None or pool.domain is None:  # Cognito serves the endpoint on the pool's domain only
        return 404, {"Content-Type": "application/json"}, json.dumps({"error": "not found"})
    form = _form(request)
    if form.get("grant_type", [""])[0] != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type")
    credentials = _client_credentials(headers, form)
    client = pool.clients.get(credentials[0]) if credentials else None
    if client is None or not client.generate_secret or client.secret != credentials[1]:  # type: ignore[index]
        return _oauth_error(400, "invalid_client")
    config = client.extended_config
    if not config.get("AllowedOAuthFlowsUserPoolClient") or "client_credentials" not in config.get(
            "AllowedOAuthFlows", []):
        return _oauth_error(400, "unauthorized_client")
    allowed = list(config.get("AllowedOAuthScopes") or [])
    defined = {f"{server.identifier}/{scope['ScopeName']}" for server in pool.resource_servers.values()
               for scope in server.scopes or []}
    asked = form.get("scope", [""])[0].split() or allowed
    if not asked or any(scope not in allowed or scope not in defined for scope in asked):
        return _oauth_error(400, "invalid_scope")
    unit = (config.get("TokenValidityUnits") or {}).get("AccessToken", "minutes")
    expires_in = int(config.get("AccessTokenValidity") or 60) * _VALIDITY_SECONDS.get(unit, 60)
    now = int(time.time())
    claims = {"sub": client.id, "token_use": "access", "scope": " ".join(asked), "auth_time": now,
              "iss": f"https://cognito-idp.{pool.region}.amazonaws.com/{pool.id}", "exp": now + expires_in,
              "iat": now, "version": 2, "jti": str(uuid.uuid4()), "client_id": client.id}
    token = jwt.encode({"kid": "dummy", "alg": "RS256"}, claims, pool.json_web_key)  # the key of the pool's JWKS
    return 200, {"Content-Type": "application/json"}, json.dumps(
        {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"})


def _patch_cognito() -> None:
    from moto.cognitoidp import urls
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    urls.url_paths["{0}/(?P<user_pool_id>[^/]+)/oauth2/token$"] = token_endpoint
    infer = DomainDispatcherApplication.infer_service_region_host

    @functools.wraps(infer)
    def infer_token_endpoint(self: Any, environ: dict[str, Any], path: str) -> str | None:
        # Its Authorization header is HTTP Basic, not SigV4, so moto would not route it by the header.
        if path.rstrip("/").endswith(TOKEN_PATH):
            pool_id = path.strip("/").split("/")[0]
            region = pool_id.rsplit("_", 1)[0] if "_" in pool_id else "us-east-1"
            return f"cognito-idp.{region}.amazonaws.com"
        return infer(self, environ, path)

    DomainDispatcherApplication.infer_service_region_host = infer_token_endpoint  # type: ignore[method-assign]


def patch() -> None:
    """Apply the patches to the moto modules of this process (idempotent)."""
    from moto.kinesis.models import Shard

    if Shard.get_max_sequence_number is _last_sequence_number:
        return
    _patch_kinesis()
    _patch_dynamodb()
    _patch_cognito()


def main(argv: list[str] | None = None) -> None:
    from moto import server

    patch()
    server.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
