"""deleteOrganization: an admin who types the name deletes everything; anyone else, or a
wrong name, changes nothing; an interrupted deletion finishes when the admin runs it again."""

from __future__ import annotations

from typing import Any

import pytest

from datastore import demo, keys
from datastore.store import Query, Set
from resolvers.context import Caller
from tests.api.conftest import ALICE, BOB, DIANA, Api
from tests.datastore.test_org_moves import FailAfter

DELETE = """mutation($name: String!) { deleteOrganization(input: {confirmName: $name}) {
  __typename ... on MutationError { code message }
  ... on ValidationError { field }
  ... on DeleteOrganizationSuccess { organizationId deletedItems } } }"""
OUTSIDER = Caller("user-other-1", "org-beside", "o@beside.io", "Olga Other")


async def everything(api: Api, org_id: str = demo.DEMO_ORG) -> list[dict[str, Any]]:
    return (await api.store.query(Query(keys.org_pk(org_id), consistent=True))).items


async def delete(api: Api, name: str, caller: Caller = ALICE) -> dict[str, Any]:
    result: dict[str, Any] = (await api.ok(DELETE, caller, {"name": name}))[
        "deleteOrganization"]
    return result


@pytest.fixture
async def beside(api: Api) -> list[dict[str, Any]]:
    await demo.load_team(api.store, "org-beside", 3)
    return await everything(api, "org-beside")


async def test_an_admin_who_types_the_name_deletes_every_item(api: Api, beside: Any) -> None:
    before = await everything(api)

    result = await delete(api, "My Startup")

    assert result == {"__typename": "DeleteOrganizationSuccess",
                      "organizationId": demo.DEMO_ORG, "deletedItems": len(before)}
    assert await everything(api) == []
    assert await everything(api, "org-beside") == beside
    api.settle()
    after = await api.run("{ organization { id } }", ALICE)
    assert after.data == {"organization": None}
    assert after.codes == ["FORBIDDEN"]
    # Gone means gone: the id is free to create the organization afresh.
    again = await api.ok('mutation { createOrganization(input: {name: "Second Start"}) { '
                         "__typename } }", ALICE)
    assert again["createOrganization"]["__typename"] == "CreateOrganizationSuccess"


@pytest.mark.parametrize("name", ["my startup", "My Startup ", "", "org-xyz-789"])
async def test_a_name_that_is_not_exactly_the_organizations_changes_nothing(
        api: Api, name: str) -> None:
    before = await everything(api)

    result = await delete(api, name)

    assert result["__typename"] == "ValidationError"
    assert result["field"] == "confirmName"
    assert await everything(api) == before


@pytest.mark.parametrize("caller", [BOB, DIANA], ids=["member", "viewer"])
async def test_only_an_admin_may_delete(api: Api, caller: Caller) -> None:
    before = await everything(api)

    result = await delete(api, "My Startup", caller)

    assert result["__typename"] == "PermissionDenied"
    assert await everything(api) == before


async def test_another_organizations_admin_deletes_only_their_own(api: Api, beside: Any
                                                                   ) -> None:
    before = await everything(api)

    result = await delete(api, "My Startup", OUTSIDER)  # not a member of org-beside either

    assert result["__typename"] == "PermissionDenied"
    assert await everything(api) == before
    assert await everything(api, "org-beside") == beside


async def test_an_interrupted_deletion_finishes_when_the_admin_runs_it_again(api: Api) -> None:
    total = len(await everything(api))
    api.store.fault_hook = FailAfter("delete", 6)

    failed = await api.run(DELETE, ALICE, {"name": "My Startup"})

    api.store.fault_hook = None
    assert failed.codes == ["STORE_UNAVAILABLE"]
    assert "injected" not in str(failed.errors)
    left = await everything(api)
    assert 0 < len(left) < total
    # The admin's own membership and the organization item go last, so the same admin
    # can confirm again.
    kept = {i["SK"] for i in left}
    assert {keys.organization(demo.DEMO_ORG).sk, keys.member(demo.DEMO_ORG, ALICE.user_id).sk
            } <= kept

    result = await delete(api, "My Startup")

    assert result["deletedItems"] == len(left)
    assert await everything(api) == []


async def test_a_failure_before_anything_goes_deletes_nothing(api: Api) -> None:
    before = await everything(api)
    api.store.fault_hook = FailAfter("transact", 0)  # the check that opens the deletion

    failed = await api.run(DELETE, ALICE, {"name": "My Startup"})

    api.store.fault_hook = None
    assert failed.codes == ["STORE_UNAVAILABLE"]
    assert await everything(api) == before


async def test_a_second_admin_cannot_start_a_deletion_another_has_begun(api: Api) -> None:
    await api.store.update(keys.member(demo.DEMO_ORG, BOB.user_id), [Set("role", "admin")])
    api.store.fault_hook = FailAfter("delete", 3)  # Alice's deletion stops part-way
    assert (await api.run(DELETE, ALICE, {"name": "My Startup"})).codes == [
        "STORE_UNAVAILABLE"]
    api.store.fault_hook = None
    left = await everything(api)

    bob = await delete(api, "My Startup", BOB)

    # Both at once would each delete the other's membership and neither could finish.
    assert bob["__typename"] == "VersionConflict"
    assert "being deleted by another admin" in bob["message"]
    assert await everything(api) == left
    assert (await delete(api, "My Startup"))["__typename"] == "DeleteOrganizationSuccess"
    assert await everything(api) == []
