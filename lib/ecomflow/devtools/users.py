"""The API's people and machines: `ecomflow users add|list|remove`, and local tokens (`ecomflow token`).

Three roles (ecomflow.api.access), each kept where Cognito can vouch for it:

- analyst: a user of the staff pool (username: their e-mail) in the group `analysts`. Cognito
  e-mails a temporary password; the first sign-in sets a new one and a TOTP authenticator
  (the staff pool requires MFA).
- customer: a user of the customer pool named `customer-<CustomerID>` (fixed for good) in the
  group `customers`, signing in with their e-mail (an alias).
- producer: a machine, an app client `producer-<name>` of the staff pool with a secret, allowed the
  client-credentials flow and the scope `ecomflow/records.write`; one per producing system, so
  each can be revoked alone.

The same calls work on AWS (the pool ids from the stack's outputs, or given) and on the local
stack (`--local`: its pools, created if missing). There is no sign-up: people are provisioned.
`local_token` signs in to the local stack as one of each kind, creating them where missing, as
the demo, the replay and the tests do (an analyst with a TOTP code, as the staff pool requires).
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from ecomflow.api import access
from ecomflow.api.access import Role
from ecomflow.errors import InputError

PRODUCER_PREFIX = "producer-"
_CLIENT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
LOCAL_ANALYST = "analyst@ecomflow.local"
LOCAL_PRODUCER = "local"


@dataclass(frozen=True)
class Pools:
    """The staff and customer pools of one deployment (either may be unknown when only one is given)."""

    staff_pool_id: str | None = None
    customer_pool_id: str | None = None

    def of(self, role: Role) -> str:
        """The pool a role lives in; InputError when it is not known."""
        pool = self.customer_pool_id if role is Role.CUSTOMER else self.staff_pool_id
        if not pool:
            which = "customer" if role is Role.CUSTOMER else "staff"
            raise InputError(f"the {which} pool id is not known: pass --stack or --{which}-pool-id")
        return pool


def pools_of_stack(cloudformation: Any, stack: str) -> Pools:
    """The pools a deployed stack names in its outputs (StaffUserPoolId, CustomerUserPoolId)."""
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])}
    if "StaffUserPoolId" not in outputs or "CustomerUserPoolId" not in outputs:
        raise InputError(f"stack {stack} has no StaffUserPoolId/CustomerUserPoolId outputs (deployed before roles?)")
    return Pools(outputs["StaffUserPoolId"], outputs["CustomerUserPoolId"])


@dataclass(frozen=True)
class Member:
    """One person or machine with a role, as `users list` prints it."""

    role: str
    name: str  # the e-mail of an analyst, `customer-<id>` of a customer, the client name of a producer
    pool_id: str
    customer_id: str | None = None
    email: str | None = None
    status: str | None = None
    client_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _attributes(user: dict[str, Any]) -> dict[str, str]:
    return {a["Name"]: a["Value"] for a in user.get("Attributes") or user.get("UserAttributes") or []}


def _producer_clients(cognito: Any, pool_id: str) -> list[dict[str, Any]]:
    found = []
    for page in cognito.get_paginator("list_user_pool_clients").paginate(UserPoolId=pool_id, MaxResults=60):
        for summary in page["UserPoolClients"]:
            if summary["ClientName"].startswith(PRODUCER_PREFIX):
                client = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=summary["ClientId"])
                if access.WRITE_SCOPE in client["UserPoolClient"].get("AllowedOAuthScopes", []):
                    found.append(client["UserPoolClient"])
    return found


def _producer_client(cognito: Any, pool_id: str, name: str) -> dict[str, Any] | None:
    return next((c for c in _producer_clients(cognito, pool_id)
                 if c["ClientName"] == PRODUCER_PREFIX + name or c["ClientId"] == name), None)


def _customer_username(customer_id: str | None) -> str:
    try:
        return access.customer_username(customer_id or "")
    except ValueError:
        raise InputError(f"--customer-id must be the customer's id, 1-20 digits (e.g. 17850), not {customer_id!r}") \
            from None


def add_member(cognito: Any, pools: Pools, role: Role, name: str, *, customer_id: str | None = None,
               password: str | None = None) -> dict[str, Any]:
    """Give someone a role; what was made, as JSON (a producer's client secret included: keep it safe).

    `name` is an analyst's or a customer's e-mail, or a producer's client name. People get Cognito's
    invitation e-mail with a temporary password, unless `password` is given (then none is sent and
    it is their permanent one: for the local stack).

    Raises:
        InputError: a bad name or customer id, or someone who has that role already.
    """
    pool = pools.of(role)
    if role is Role.PRODUCER:
        if not _CLIENT_NAME.fullmatch(name):
            raise InputError(f"a producer's name is 1-64 letters, digits, - or _, not {name!r}")
        if _producer_client(cognito, pool, name) is not None:
            raise InputError(f"producer {name} exists already")
        client = cognito.create_user_pool_client(
            UserPoolId=pool, ClientName=PRODUCER_PREFIX + name, GenerateSecret=True,
            AllowedOAuthFlowsUserPoolClient=True, AllowedOAuthFlows=["client_credentials"],
            AllowedOAuthScopes=[access.WRITE_SCOPE], SupportedIdentityProviders=["COGNITO"],
            ExplicitAuthFlows=["ALLOW_REFRESH_TOKEN_AUTH"], PreventUserExistenceErrors="ENABLED",
            AccessTokenValidity=60, TokenValidityUnits={"AccessToken": "minutes"})["UserPoolClient"]
        return {"role": role.value, "name": name, "pool_id": pool, "client_id": client["ClientId"],
                "client_secret": client["ClientSecret"], "scope": access.WRITE_SCOPE}
    if "@" not in name:
        raise InputError(f"a person is added by e-mail address, not {name!r}")
    username = _customer_username(customer_id) if role is Role.CUSTOMER else name
    group = access.CUSTOMERS_GROUP if role is Role.CUSTOMER else access.ANALYSTS_GROUP
    invitation: dict[str, Any] = {"MessageAction": "SUPPRESS"} if password else {"DesiredDeliveryMediums": ["EMAIL"]}
    try:
        cognito.admin_create_user(UserPoolId=pool, Username=username, UserAttributes=[
            {"Name": "email", "Value": name}, {"Name": "email_verified", "Value": "true"}], **invitation)
    except cognito.exceptions.UsernameExistsException:
        raise InputError(f"{username} has a login already") from None
    if password:
        cognito.admin_set_user_password(UserPoolId=pool, Username=username, Password=password, Permanent=True)
    cognito.admin_add_user_to_group(UserPoolId=pool, Username=username, GroupName=group)
    added = {"role": role.value, "name": username, "pool_id": pool, "email": name}
    return {**added, "customer_id": customer_id} if role is Role.CUSTOMER else added


def list_members(cognito: Any, pools: Pools, role: Role | None = None) -> list[Member]:
    """Everyone with a role in the known pools (or one role), by role then name."""
    members: list[Member] = []
    wanted = [role] if role else [r for r in Role if (pools.customer_pool_id if r is Role.CUSTOMER
                                                      else pools.staff_pool_id)]
    for kind in wanted:
        pool = pools.of(kind)
        if kind is Role.PRODUCER:
            members += [Member(kind.value, c["ClientName"].removeprefix(PRODUCER_PREFIX), pool,
                               client_id=c["ClientId"]) for c in _producer_clients(cognito, pool)]
            continue
        group = access.CUSTOMERS_GROUP if kind is Role.CUSTOMER else access.ANALYSTS_GROUP
        for page in cognito.get_paginator("list_users_in_group").paginate(UserPoolId=pool, GroupName=group):
            for user in page["Users"]:
                attributes = _attributes(user)
                name = user["Username"] if kind is Role.CUSTOMER else attributes.get("email", user["Username"])
                members.append(Member(kind.value, name, pool, customer_id=access.customer_of(user["Username"]),
                                      email=attributes.get("email"), status=user.get("UserStatus")))
    return sorted(members, key=lambda m: (m.role, m.name))


def remove_member(cognito: Any, pools: Pools, role: Role, name: str) -> None:
    """Take someone's access away: delete the user (and their sessions) or the producer's client.

    `name` as `users list` shows it (a customer may be named by their customer id too).

    Raises:
        InputError: there is no one of that role and name.
    """
    pool = pools.of(role)
    if role is Role.PRODUCER:
        client = _producer_client(cognito, pool, name)
        if client is None:
            raise InputError(f"no producer {name}")
        cognito.delete_user_pool_client(UserPoolId=pool, ClientId=client["ClientId"])
        return
    username = _customer_username(name) if role is Role.CUSTOMER and name.isdigit() else name
    try:
        cognito.admin_delete_user(UserPoolId=pool, Username=username)
    except cognito.exceptions.UserNotFoundException:
        raise InputError(f"no {role.value} {name}") from None


# --- local tokens -----------------------------------------------------------------------------------

def _password() -> str:
    return secrets.token_urlsafe(18) + "aA1!"  # meets the pools' policy


def totp_code(secret: str, at: float | None = None) -> str:
    """The current code of an authenticator app holding `secret` (RFC 6238: base32 key, SHA-1, 6 digits, 30 s)."""
    from cryptography.hazmat.primitives.hashes import SHA1
    from cryptography.hazmat.primitives.twofactor.totp import TOTP

    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    return TOTP(key, 6, SHA1(), 30, enforce_key_length=False).generate(time.time() if at is None else at).decode()


# The TOTP secrets of the local users this process set up an authenticator for: (pool, username) -> secret.
_AUTHENTICATORS: dict[tuple[str, str], str] = {}


class _UnknownAuthenticator(Exception):
    """Cognito asks for a TOTP code of a local user whose secret this process does not hold."""


def sign_in(cognito: Any, pool: str, app: str, username: str, password: str) -> dict[str, Any]:
    """USER_PASSWORD_AUTH through the app client, answering the MFA challenges as the user's app would."""
    answer = cognito.initiate_auth(ClientId=app, AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": username, "PASSWORD": password})
    for _ in range(3):
        challenge = answer.get("ChallengeName")
        if challenge is None:
            return dict(answer["AuthenticationResult"])
        if challenge == "MFA_SETUP":  # Cognito's first sign-in to a pool that requires MFA
            associated = cognito.associate_software_token(Session=answer["Session"])
            secret = associated["SecretCode"]
            verified = cognito.verify_software_token(Session=associated["Session"], UserCode=totp_code(secret))
            _AUTHENTICATORS[(pool, username)] = secret
            answer = cognito.respond_to_auth_challenge(ClientId=app, ChallengeName="MFA_SETUP",
                                                       Session=verified["Session"],
                                                       ChallengeResponses={"USERNAME": username})
        elif challenge == "SOFTWARE_TOKEN_MFA":
            secret = _AUTHENTICATORS.get((pool, username))
            if secret is None:
                raise _UnknownAuthenticator(username)
            answer = cognito.respond_to_auth_challenge(
                ClientId=app, ChallengeName="SOFTWARE_TOKEN_MFA", Session=answer["Session"],
                ChallengeResponses={"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": totp_code(secret)})
        else:
            raise InputError(f"signing in as {username} asked for {challenge}, which the local sign-in cannot answer")
    raise InputError(f"signing in as {username} did not end")


def _staff_sign_in(cognito: Any, pool: str, app: str, username: str, password: str) -> dict[str, Any]:
    """A staff member's sign-in, with their authenticator app (set up on the first sign-in).

    moto 5.2.5 hands out tokens at a first sign-in to a pool with MFA on, where Cognito asks for
    MFA_SETUP; so the authenticator is set up then with those tokens (associate, verify), and the
    sign-in done again, now answering Cognito's SOFTWARE_TOKEN_MFA challenge as on AWS.
    """
    result = sign_in(cognito, pool, app, username, password)
    if (pool, username) in _AUTHENTICATORS:
        return result
    secret = cognito.associate_software_token(AccessToken=result["AccessToken"])["SecretCode"]
    cognito.verify_software_token(AccessToken=result["AccessToken"], UserCode=totp_code(secret))
    cognito.set_user_mfa_preference(AccessToken=result["AccessToken"],
                                    SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})
    _AUTHENTICATORS[(pool, username)] = secret
    return sign_in(cognito, pool, app, username, password)


def local_token(role: Role, name: str | None = None, customer_id: str | None = None, *, kind: str = "access",
                cognito: Any = None) -> str:
    """A token of the local stack for one of a role, signed in as they would (created where missing).

    A producer gets an access token from the token endpoint (client credentials); a person signs in
    with USER_PASSWORD_AUTH through the pool's app client (`kind` "id" gives their id token, which
    the API refuses). Being the local pools' administrator, this sets a fresh password each time
    instead of keeping one.
    """
    from ecomflow import aws
    from ecomflow.local import cognito_local

    cognito = cognito or aws.client("cognito-idp")
    local = cognito_local.ensure_pools(cognito)
    pools = Pools(local.staff_pool_id, local.customer_pool_id)
    if role is Role.PRODUCER:
        name = name or LOCAL_PRODUCER
        client = _producer_client(cognito, local.staff_pool_id, name)
        if client is None:
            made = add_member(cognito, pools, role, name)
            client = {"ClientId": made["client_id"], "ClientSecret": made["client_secret"]}
        answer = cognito_local.post_token_request(local.token_endpoint(), client["ClientId"], client["ClientSecret"])
        return str(answer["access_token"])
    if role is Role.CUSTOMER:
        username = _customer_username(customer_id)
        email, pool, app = name or f"{username}@ecomflow.local", local.customer_pool_id, local.customer_app_client
    else:
        username = email = name or LOCAL_ANALYST
        pool, app = local.staff_pool_id, local.staff_app_client
    password = _password()
    try:
        cognito.admin_get_user(UserPoolId=pool, Username=username)
        cognito.admin_set_user_password(UserPoolId=pool, Username=username, Password=password, Permanent=True)
    except cognito.exceptions.UserNotFoundException:
        add_member(cognito, pools, role, email, customer_id=customer_id, password=password)
    if role is Role.CUSTOMER:
        result = sign_in(cognito, pool, app, username, password)
    else:
        try:
            result = _staff_sign_in(cognito, pool, app, username, password)
        except _UnknownAuthenticator:  # set up by another process: a local analyst is made afresh
            cognito.admin_delete_user(UserPoolId=pool, Username=username)
            add_member(cognito, pools, role, email, password=password)
            result = _staff_sign_in(cognito, pool, app, username, password)
    return str(result["IdToken" if kind == "id" else "AccessToken"])
