"""Which pools `ecomflow users` works on (ecomflow.devtools.users, ecomflow.cli.users)."""

from __future__ import annotations

import pytest

from ecomflow.api.access import Role
from ecomflow.cli.main import build_parser
from ecomflow.devtools.users import Pools, pools_of_stack
from ecomflow.errors import InputError


class Stacks:
    def __init__(self, outputs: dict[str, str]) -> None:
        self.outputs = outputs

    def describe_stacks(self, StackName: str) -> dict:  # noqa: N803 - boto3's name
        return {"Stacks": [{"Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in self.outputs.items()]}]}


def test_the_pools_come_from_the_stacks_outputs():
    stacks = Stacks({"StaffUserPoolId": "eu-west-1_s", "CustomerUserPoolId": "eu-west-1_c", "ApiUrl": "https://x"})
    assert pools_of_stack(stacks, "ecomflow-dev") == Pools("eu-west-1_s", "eu-west-1_c")


def test_a_stack_from_before_the_roles_is_a_clear_error():
    with pytest.raises(InputError, match="no StaffUserPoolId"):
        pools_of_stack(Stacks({"UserPoolId": "eu-west-1_old"}), "ecomflow-dev")


def test_each_role_lives_in_its_pool():
    pools = Pools("staff", "shop")
    assert [pools.of(role) for role in Role] == ["staff", "staff", "shop"]
    with pytest.raises(InputError, match="customer pool id is not known"):
        Pools(staff_pool_id="staff").of(Role.CUSTOMER)


@pytest.mark.parametrize(("role", "expected"), [("customer", Pools(None, "p1")), ("analyst", Pools("p1", None)),
                                                ("producer", Pools("p1", None))])
def test_user_pool_id_is_the_pool_of_the_role_given(role, expected):
    from ecomflow.cli.users import _pools

    args = build_parser().parse_args(["users", "list", role, "--user-pool-id", "p1"])
    assert _pools(args) == expected


@pytest.mark.parametrize(("at", "code"), [(59, "287082"), (1111111109, "081804"), (2000000000, "279037")])
def test_totp_codes_are_rfc_6238s(at, code):
    from ecomflow.devtools.users import totp_code

    # RFC 6238 appendix B's SHA-1 secret, as an authenticator app holds it (base32), last 6 digits
    assert totp_code("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", at=at) == code
