"""Who is calling: producers write, analysts read everything, customers read only their own invoices.

Two steps, as on AWS. API Gateway's Cognito authorizer checks the token before any Lambda runs: a
signature by one of the authorizer's user pools, not expired, an access token, and one of the
method's OAuth scopes (`METHOD_SCOPES`, which cloudformation/api.yaml states as AuthorizationScopes);
otherwise it answers 401 or 403 itself. It then passes the token's claims on in
`requestContext.authorizer.claims`, every value a string (`cognito:groups` comma-separated).
This module, the only one that reads claims, turns them into a `Caller`: a role and, for a
customer, the customer id.

- producer: a machine, signed in with the client-credentials flow of an app client of the staff
  pool that is allowed the scope `ecomflow/records.write`. Its token has no user (`username`).
- analyst: a person in the group `analysts` of the staff pool (the pool with MFA on), or a machine
  allowed `ecomflow/sales.read` (a reporting job, client credentials).
- customer: a person in the group `customers` of the customer pool whose username is
  `customer-<CustomerID>`. Usernames cannot be changed after creation and groups are set by
  administrators only, so no customer can change which customer they are (docs/decisions.md says
  why the username and not a custom attribute: access tokens carry no custom attributes).

A token of a person must come from one of the API's own app clients (API Gateway does not check
the client of an access token; this does). Claims that name no role, or a role in the wrong pool
(a group `analysts` in the customer pool, MFA-less), are refused: 401 for a token this API did not
issue, 403 for one that names no role allowed on the route.

No pyspark here: this module runs inside both Lambdas.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.exceptions import ForbiddenError, UnauthorizedError
from aws_lambda_powertools.event_handler.request import Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from ecomflow.config import AccessConfig


class Role(StrEnum):
    PRODUCER = "producer"
    ANALYST = "analyst"
    CUSTOMER = "customer"


RESOURCE_SERVER = "ecomflow"  # the staff pool's resource server; its scopes are `ecomflow/<name>`
WRITE_SCOPE = f"{RESOURCE_SERVER}/records.write"
READ_SCOPE = f"{RESOURCE_SERVER}/sales.read"
# What Cognito puts in the access token of every person signed in through its API (InitiateAuth):
# people are told apart by their groups, which only the Lambda can read.
USER_SCOPE = "aws.cognito.signin.user.admin"
SCOPES = {WRITE_SCOPE.rsplit("/", 1)[1]: "POST /records (producers)",
          READ_SCOPE.rsplit("/", 1)[1]: "GET every invoice and customer (reporting jobs)"}
ANALYSTS_GROUP = "analysts"
CUSTOMERS_GROUP = "customers"
CUSTOMER_USERNAME_PREFIX = "customer-"
_CUSTOMER_USERNAME = re.compile(re.escape(CUSTOMER_USERNAME_PREFIX) + r"([0-9]{1,20})")

# The scopes each method asks for (API Gateway lets in an access token holding any one of them).
METHOD_SCOPES: dict[tuple[str, str], tuple[str, ...]] = {
    ("POST", "/records"): (WRITE_SCOPE,),
    ("GET", "/invoices/{invoice_no}"): (USER_SCOPE, READ_SCOPE),
    ("GET", "/invoices/{invoice_no}/items/{stock_code}"): (USER_SCOPE, READ_SCOPE),
    ("GET", "/customers/{customer_id}/invoices"): (USER_SCOPE, READ_SCOPE),
}

UNAUTHORIZED = "Unauthorized"  # API Gateway's own word; a refusal says no more than it does


def customer_username(customer_id: str) -> str:
    """The username of a customer's login (`customer-17850`); ValueError unless digits."""
    username = CUSTOMER_USERNAME_PREFIX + customer_id
    if not _CUSTOMER_USERNAME.fullmatch(username):
        raise ValueError(f"a customer id is 1-20 digits, not {customer_id!r}")
    return username


def customer_of(username: str | None) -> str | None:
    """The customer id a username names (`customer-17850` -> `17850`), None for any other username."""
    match = _CUSTOMER_USERNAME.fullmatch(username or "")
    return match.group(1) if match else None


def _names(value: Any) -> Any:
    """A list claim as API Gateway passes it (`a,b`; `[a b]` as seen from HTTP APIs) or as JSON (a list)."""
    if isinstance(value, str):
        return [name for name in re.split(r"[\s,]+", value.strip().strip("[]")) if name]
    return value


Names = Annotated[frozenset[str], BeforeValidator(_names)]


class Claims(BaseModel):
    """The claims of a verified access token that say who calls (others are ignored)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    issuer: str = Field(alias="iss", min_length=1)
    token_use: str
    client_id: str = Field(min_length=1)
    subject: str = Field(alias="sub", min_length=1)
    username: str | None = None
    scopes: Names = Field(default=frozenset(), alias="scope")
    groups: Names = Field(default=frozenset(), alias="cognito:groups")


class Caller(BaseModel):
    """Who calls: a role, and for a customer the customer id (the only lines they may see)."""

    model_config = ConfigDict(frozen=True)

    role: Role
    subject: str
    client_id: str
    customer_id: str | None = None

    @model_validator(mode="after")
    def _customer_id_iff_customer(self) -> Caller:
        if (self.role is Role.CUSTOMER) != (self.customer_id is not None):
            raise ValueError("a customer id belongs to a customer, and every customer has one")
        return self


def _person(claims: Claims, access: AccessConfig) -> tuple[Role, str | None] | None:
    """The role and customer id of a person's token, or None when it names no role (or both)."""
    roles = claims.groups & {ANALYSTS_GROUP, CUSTOMERS_GROUP}
    if claims.issuer == access.staff_issuer and roles == {ANALYSTS_GROUP}:
        return Role.ANALYST, None
    customer_id = customer_of(claims.username)
    if claims.issuer == access.customer_issuer and roles == {CUSTOMERS_GROUP} and customer_id:
        return Role.CUSTOMER, customer_id
    return None


def _machine(claims: Claims, access: AccessConfig) -> Role | None:
    """The role of a client-credentials token (staff pool only), or None when it names none or two."""
    if claims.issuer != access.staff_issuer:
        return None
    roles = {role for scope, role in ((WRITE_SCOPE, Role.PRODUCER), (READ_SCOPE, Role.ANALYST))
             if scope in claims.scopes}
    return roles.pop() if len(roles) == 1 else None


def caller_from_claims(claims: Mapping[str, Any] | None, access: AccessConfig) -> Caller:
    """The caller the verified claims name.

    Raises:
        UnauthorizedError: no claims (a method without the authorizer), claims of a token that is not
            an access token of one of the two pools, or a person's token from another app client (401).
        ForbiddenError: a valid token that names no role, or more than one (403).
    """
    try:
        parsed = Claims.model_validate(claims or {})
    except ValidationError:
        raise UnauthorizedError(UNAUTHORIZED) from None
    if parsed.token_use != "access" or parsed.issuer not in (access.staff_issuer, access.customer_issuer):
        raise UnauthorizedError(UNAUTHORIZED)
    if parsed.username is None:
        role = _machine(parsed, access)
        if role is None:
            raise ForbiddenError("the token names no role in this API")
        return Caller(role=role, subject=parsed.subject, client_id=parsed.client_id)
    if parsed.client_id not in access.app_clients:
        raise UnauthorizedError(UNAUTHORIZED)
    person = _person(parsed, access)
    if person is None:
        raise ForbiddenError("the token names no role in this API")
    role, customer_id = person
    return Caller(role=role, subject=parsed.subject, client_id=parsed.client_id, customer_id=customer_id)


def request_caller(request: Request, access: AccessConfig) -> Caller:
    """The caller of the current request, from the claims API Gateway passed on."""
    context = request.resolved_event.get("requestContext") or {}
    return caller_from_claims((context.get("authorizer") or {}).get("claims"), access)


def require(caller: Caller, *roles: Role) -> Caller:
    """`caller` when their role is one of `roles`; ForbiddenError (403) otherwise."""
    if caller.role not in roles:
        raise ForbiddenError(f"a {caller.role} may not use this route")
    return caller
