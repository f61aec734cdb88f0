"""The caller model: which claims name which role (`ecomflow.api.access`), one rule per test."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.event_handler.exceptions import ForbiddenError, UnauthorizedError

from ecomflow.api import access
from ecomflow.api.access import Caller, Role, caller_from_claims
from ecomflow.config import AccessConfig, ApiConfig
from ecomflow.errors import ConfigError

STAFF = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_staff"
CUSTOMERS = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_shop"
ACCESS = AccessConfig(staff_issuer=STAFF, customer_issuer=CUSTOMERS, app_clients=frozenset({"staffapp", "shopapp"}))


def person(issuer: str = STAFF, groups: str = "analysts", username: str = "ana", client: str = "staffapp",
           **extra: str) -> dict[str, str]:
    """A person's access-token claims, as API Gateway passes them (strings; groups comma-separated)."""
    return {"iss": issuer, "token_use": "access", "client_id": client, "sub": "0c8e-user", "username": username,
            "cognito:groups": groups, "scope": access.USER_SCOPE, "exp": "Tue Apr 04 18:39:39 UTC 2023", **extra}


def machine(scope: str, issuer: str = STAFF) -> dict[str, str]:
    """A client-credentials token's claims: no user, the client is the subject."""
    return {"iss": issuer, "token_use": "access", "client_id": "7abc", "sub": "7abc", "scope": scope}


def test_a_client_allowed_records_write_is_a_producer():
    assert caller_from_claims(machine(access.WRITE_SCOPE), ACCESS) == Caller(role=Role.PRODUCER, subject="7abc",
                                                                             client_id="7abc")


def test_a_client_allowed_sales_read_is_an_analyst():
    assert caller_from_claims(machine(access.READ_SCOPE), ACCESS).role is Role.ANALYST


def test_a_client_with_both_scopes_names_no_single_role():
    with pytest.raises(ForbiddenError):
        caller_from_claims(machine(f"{access.WRITE_SCOPE} {access.READ_SCOPE}"), ACCESS)


def test_a_client_of_the_customer_pool_is_no_producer():
    with pytest.raises(ForbiddenError):
        caller_from_claims(machine(access.WRITE_SCOPE, issuer=CUSTOMERS), ACCESS)


def test_a_staff_member_in_analysts_is_an_analyst():
    caller = caller_from_claims(person(), ACCESS)
    assert (caller.role, caller.customer_id, caller.client_id) == (Role.ANALYST, None, "staffapp")


def test_other_groups_beside_analysts_do_not_matter():
    assert caller_from_claims(person(groups="admins,analysts"), ACCESS).role is Role.ANALYST


def test_a_customer_is_named_by_group_and_username():
    caller = caller_from_claims(person(CUSTOMERS, "customers", "customer-17850", "shopapp"), ACCESS)
    assert (caller.role, caller.customer_id) == (Role.CUSTOMER, "17850")


@pytest.mark.parametrize("groups", ["[customers]", "customers", "customers,newsletter"])
def test_groups_are_read_in_the_forms_api_gateway_passes(groups):
    assert caller_from_claims(person(CUSTOMERS, groups, "customer-1", "shopapp"), ACCESS).customer_id == "1"


def test_groups_as_a_json_list_are_read_too():
    claims = {**person(CUSTOMERS, "", "customer-1", "shopapp"), "cognito:groups": ["customers"]}
    assert caller_from_claims(claims, ACCESS).role is Role.CUSTOMER


@pytest.mark.parametrize("username", ["17850", "customer-", "customer-17850x", "customer-1785O", "xcustomer-17850",
                                      "customer-17850-2", "customer- 17850", "customer-" + "1" * 21])
def test_a_customer_whose_username_names_no_customer_id_has_no_role(username):
    with pytest.raises(ForbiddenError):
        caller_from_claims(person(CUSTOMERS, "customers", username, "shopapp"), ACCESS)


def test_analysts_in_the_customer_pool_are_not_analysts():
    # the customer pool has no MFA: a group of that name there must not open every invoice
    with pytest.raises(ForbiddenError):
        caller_from_claims(person(CUSTOMERS, "analysts", "mallory", "shopapp"), ACCESS)


def test_customers_in_the_staff_pool_are_not_customers():
    with pytest.raises(ForbiddenError):
        caller_from_claims(person(STAFF, "customers", "customer-17850"), ACCESS)


def test_a_person_in_both_role_groups_has_no_role():
    with pytest.raises(ForbiddenError):
        caller_from_claims(person(CUSTOMERS, "analysts,customers", "customer-17850", "shopapp"), ACCESS)


def test_a_person_in_no_group_has_no_role():
    with pytest.raises(ForbiddenError):
        caller_from_claims({k: v for k, v in person().items() if k != "cognito:groups"}, ACCESS)


def test_a_persons_token_from_another_app_client_is_401():
    with pytest.raises(UnauthorizedError):
        caller_from_claims(person(client="someone-elses-app"), ACCESS)


def test_a_token_of_another_pool_is_401():
    with pytest.raises(UnauthorizedError):
        caller_from_claims(person(issuer="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_other"), ACCESS)


def test_an_id_token_is_401():
    claims = {**person(), "token_use": "id", "aud": "staffapp"}
    with pytest.raises(UnauthorizedError):
        caller_from_claims(claims, ACCESS)


@pytest.mark.parametrize("claims", [None, {}, {"iss": STAFF}, {"sub": "x", "token_use": "access"}])
def test_no_claims_or_too_few_are_401(claims):
    with pytest.raises(UnauthorizedError):
        caller_from_claims(claims, ACCESS)


def test_a_caller_is_a_customer_exactly_when_it_has_a_customer_id():
    with pytest.raises(ValueError, match="customer id"):
        Caller(role=Role.ANALYST, subject="s", client_id="c", customer_id="17850")
    with pytest.raises(ValueError, match="customer id"):
        Caller(role=Role.CUSTOMER, subject="s", client_id="c")


def test_require_refuses_a_role_not_named():
    producer = Caller(role=Role.PRODUCER, subject="s", client_id="c")
    assert access.require(producer, Role.PRODUCER) is producer
    with pytest.raises(ForbiddenError, match="a producer may not"):
        access.require(producer, Role.ANALYST, Role.CUSTOMER)


def test_customer_usernames_round_trip():
    assert access.customer_of(access.customer_username("17850")) == "17850"
    with pytest.raises(ValueError):
        access.customer_username("17850.0")


def test_the_lambdas_refuse_to_guess_without_their_pools():
    config = ApiConfig.from_env({"ECOMFLOW_STAFF_ISSUER": STAFF, "ECOMFLOW_APP_CLIENTS": " a, b ,"})
    assert config.app_clients == {"a", "b"}
    with pytest.raises(ConfigError, match="ECOMFLOW_CUSTOMER_ISSUER"):
        config.require_access()
