"""`ecomflow users add|list|remove` on the local stack's pools (moto's Cognito over HTTP)."""

from __future__ import annotations

import json
import uuid

import pytest

from ecomflow import aws
from ecomflow.cli.main import main as cli_main
from ecomflow.local import cognito_local

pytestmark = pytest.mark.integration


def run(capsys, *argv: str) -> list[dict]:
    assert cli_main(list(argv)) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


def test_an_analyst_is_added_listed_and_removed(local_stack, capsys, unique):
    email = f"ana-{unique}@example.com"
    (added,) = run(capsys, "users", "add", "analyst", email, "--local")
    pools = cognito_local.ensure_pools()
    assert (added["role"], added["name"], added["pool_id"]) == ("analyst", email, pools.staff_pool_id)
    listed = run(capsys, "users", "list", "analyst", "--local")
    mine = [m for m in listed if m["name"] == email]
    assert mine and mine[0]["status"] == "FORCE_CHANGE_PASSWORD"  # invited: a new password at first sign-in
    groups = aws.client("cognito-idp").admin_list_groups_for_user(UserPoolId=pools.staff_pool_id, Username=email)
    assert [g["GroupName"] for g in groups["Groups"]] == ["analysts"]
    run(capsys, "users", "remove", "analyst", email, "--local")
    assert email not in {m["name"] for m in run(capsys, "users", "list", "analyst", "--local")}


def test_a_customer_gets_the_username_that_names_their_id(local_stack, capsys, unique):
    customer_id = str(int(unique, 16) % 10**9)
    (added,) = run(capsys, "users", "add", "customer", f"bob-{unique}@example.com", "--customer-id", customer_id,
                   "--local")
    assert (added["name"], added["customer_id"]) == (f"customer-{customer_id}", customer_id)
    listed = {m["name"]: m for m in run(capsys, "users", "list", "customer", "--local")}
    assert listed[f"customer-{customer_id}"]["customer_id"] == customer_id
    assert listed[f"customer-{customer_id}"]["email"] == f"bob-{unique}@example.com"
    run(capsys, "users", "remove", "customer", customer_id, "--local")  # by customer id
    assert f"customer-{customer_id}" not in {m["name"] for m in run(capsys, "users", "list", "customer", "--local")}


def test_a_second_login_for_one_customer_id_is_refused(local_stack, capsys, caplog, unique):
    customer_id = str(int(unique, 16) % 10**9)
    run(capsys, "users", "add", "customer", f"a-{unique}@example.com", "--customer-id", customer_id, "--local")
    assert cli_main(["users", "add", "customer", f"b-{unique}@example.com", "--customer-id", customer_id,
                     "--local"]) == 2
    assert f"customer-{customer_id} has a login already" in caplog.text


def test_a_producer_is_a_client_with_a_secret_that_gets_a_write_token(local_stack, capsys, unique):
    (added,) = run(capsys, "users", "add", "producer", f"till-{unique}", "--local")
    pools = cognito_local.ensure_pools()
    answer = cognito_local.post_token_request(pools.token_endpoint(), added["client_id"], added["client_secret"])
    assert answer["token_type"] == "Bearer"
    listed = run(capsys, "users", "list", "producer", "--user-pool-id", pools.staff_pool_id)
    assert {"role": "producer", "name": f"till-{unique}", "pool_id": pools.staff_pool_id,
            "client_id": added["client_id"]} in listed
    run(capsys, "users", "remove", "producer", f"till-{unique}", "--local")
    assert f"till-{unique}" not in {m["name"] for m in run(capsys, "users", "list", "producer", "--local")}
    with pytest.raises(cognito_local.LocalStackError, match="invalid_client"):  # its secret opens nothing now
        cognito_local.post_token_request(pools.token_endpoint(), added["client_id"], added["client_secret"])


@pytest.mark.parametrize(("argv", "message"), [
    (["users", "add", "customer", "x@example.com", "--local"], "--customer-id must be"),
    (["users", "add", "customer", "x@example.com", "--customer-id", "17850.0", "--local"], "--customer-id must be"),
    (["users", "add", "analyst", "not-an-email", "--local"], "by e-mail address"),
    (["users", "add", "producer", "bad name!", "--local"], "a producer's name"),
    (["users", "remove", "analyst", "nobody-here@example.com", "--local"], "no analyst"),
    (["users", "list"], "which pools?"),
])
def test_mistakes_are_one_line(local_stack, caplog, argv, message):
    assert cli_main(argv) == 2
    assert message in caplog.text
