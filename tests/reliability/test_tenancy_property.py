"""Tenant isolation as a property: random operation sequences by members of several orgs.

Each example builds three organisations (an owner and a customer each) and five users with
random roles in each (none, viewer, member, admin), then runs a random sequence of reads,
writes and membership changes by random users against random organisations. A model of
who holds which role predicts every status (404 for non-members, 403 below the role the
route needs), and after every step:

- no response shows an id of an organisation the request was not about (unless the
  request itself carried it);
- a refused request (403/404) changed nothing in the organisation it targeted, whoever
  sent it — so viewers never change anything;
- a removed member or a demoted one gets the new answer on the very next request.

`test_isolation.py` and `test_row_level_security.py` show isolation route by route; this
explores the orders and role combinations nobody wrote down.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Api

pytestmark = pytest.mark.anyio

EXAMPLES = int(os.environ.get("PENVOICE_ISOLATION_EXAMPLES", "20"))
ORGS, USERS = 3, 5
RANK = {None: -1, "viewer": 0, "member": 1, "admin": 2, "owner": 3}
Role = str | None
roles = st.sampled_from([None, "viewer", "member", "admin"])
ORG_TABLES = ("customers", "invoices", "invoice_lines", "memberships", "tax_rates", "events")


@dataclass
class Org:
    id: str
    owner: str
    ids: set[str] = field(default_factory=set)  # every id that belongs to this org
    customers: list[str] = field(default_factory=list)


@dataclass
class World:
    api: Api
    admin: asyncpg.Connection[asyncpg.Record]
    orgs: list[Org]
    users: list[str]
    roles: dict[tuple[int, int], Role]  # (org, user) → role
    steps: int = 0
    outcomes: list[tuple[str, Role, int]] = field(default_factory=list)

    def role(self, org: int, user: int) -> Role:
        if user == USERS:  # the organisation's owner
            return "owner"
        return self.roles.get((org, user))

    def subject(self, org: int, user: int) -> str:
        return self.orgs[org].owner if user == USERS else self.users[user]

    def foreign_ids(self, org: int) -> set[str]:
        return {i for n, other in enumerate(self.orgs) if n != org for i in other.ids}


async def fingerprint(admin: asyncpg.Connection[asyncpg.Record], org_id: str) -> list[str]:
    rows = [
        await admin.fetchval(
            "SELECT to_jsonb(o)::text FROM organisations o WHERE id = $1", uuid.UUID(org_id)
        )
    ]
    for table in ORG_TABLES:
        rows += [
            r[0]
            for r in await admin.fetch(
                f"SELECT to_jsonb(t)::text FROM {table} t WHERE org_id = $1 ORDER BY 1",
                uuid.UUID(org_id),
            )
        ]
    return rows


# An operation: (kind, actor user index, target org index, argument).
operations = st.tuples(
    st.sampled_from(
        [
            "get_org",
            "list_customers",
            "list_invoices",
            "list_members",
            "list_events",
            "get_customer",
            "get_foreign_customer",
            "create_customer",
            "create_draft",
            "create_draft_foreign_customer",
            "rename_org",
            "create_tax_rate",
            "set_role",
            "remove_member",
        ]
    ),
    st.integers(0, USERS),  # USERS: the target organisation's owner
    st.integers(0, ORGS - 1),
    st.tuples(st.integers(0, USERS - 1), st.sampled_from(["viewer", "member", "admin"])),
)


def expected(world: World, kind: str, actor: int, org: int, target: int) -> set[int]:
    role = world.role(org, actor)
    if role is None:
        return {404}
    rank = RANK[role]
    reads = {"get_org", "list_customers", "list_invoices", "list_members", "list_events"}
    if kind in reads or kind == "get_customer":
        return {200}
    if kind == "get_foreign_customer":
        return {404}
    if kind in {"create_customer", "create_draft"}:
        return {201} if rank >= RANK["member"] else {403}
    if kind == "create_draft_foreign_customer":
        return {422} if rank >= RANK["member"] else {403}
    if kind == "rename_org":
        return {200} if rank >= RANK["admin"] else {403}
    if kind == "create_tax_rate":
        return {201} if rank >= RANK["admin"] else {403}
    if kind == "set_role":
        if rank < RANK["admin"]:
            return {403}
        return {200} if world.role(org, target) is not None else {404}
    if kind == "remove_member":
        if world.role(org, target) is None:
            return {404}
        return {204} if rank >= RANK["admin"] else {403}
    raise AssertionError(kind)


async def step(world: World, kind: str, actor: int, org: int, arg: tuple[int, str]) -> None:
    target, new_role = arg
    if kind in {"set_role", "remove_member"} and target == actor:
        target = (target + 1) % USERS  # leaving or self-promotion are other stories
    api, subject, the_org = world.api, world.subject(org, actor), world.orgs[org]
    other = world.orgs[(org + 1) % ORGS]
    base = f"/v1/orgs/{the_org.id}"
    body: Any = None
    method, url = "GET", base
    if kind == "list_customers":
        url = f"{base}/customers"
    elif kind == "list_invoices":
        url = f"{base}/invoices"
    elif kind == "list_members":
        url = f"{base}/members"
    elif kind == "list_events":
        url = f"{base}/events"
    elif kind == "get_customer":
        url = f"{base}/customers/{the_org.customers[0]}"
    elif kind == "get_foreign_customer":
        url = f"{base}/customers/{other.customers[0]}"
    elif kind == "create_customer":
        method, url, body = "POST", f"{base}/customers", {"name": f"By {subject}"}
    elif kind in {"create_draft", "create_draft_foreign_customer"}:
        customer = the_org.customers[0] if kind == "create_draft" else other.customers[0]
        line = {"description": "Work", "quantity": "1", "unit_amount": 100}
        method, url, body = "POST", f"{base}/invoices", {"customer_id": customer, "lines": [line]}
    elif kind == "rename_org":
        method, body = "PATCH", {"name": f"Renamed by {subject}"}
    elif kind == "create_tax_rate":
        body = {"display_name": "VAT", "percentage": "20", "inclusive": False}
        method, url = "POST", f"{base}/tax-rates"
    elif kind == "set_role":
        method, body = "PATCH", {"role": new_role}
        url = f"{base}/members/{world.users[target]}"
    elif kind == "remove_member":
        method, url = "DELETE", f"{base}/members/{world.users[target]}"
    wanted = expected(world, kind, actor, org, target)
    before = await fingerprint(world.admin, the_org.id) if wanted <= {403, 404, 422} else None
    response = await api.client.request(method, url, json=body, headers=api.auth(subject))
    world.steps += 1
    where = f"step {world.steps}: {subject} ({world.role(org, actor)}) {kind} in org {org}"
    world.outcomes.append((kind, world.role(org, actor), response.status_code))
    assert response.status_code in wanted, f"{where}: {response.status_code} {response.text}"
    sent = f"{url} {body}"
    leaked = {i for i in world.foreign_ids(org) if i in response.text and i not in sent}
    assert not leaked, f"{where}: shows another organisation's ids {leaked}"
    if before is not None:
        assert await fingerprint(world.admin, the_org.id) == before, f"{where} changed data"
    if response.status_code in {200, 201} and response.headers["content-type"].endswith("json"):
        created = response.json()
        if kind == "create_customer":
            the_org.customers.append(created["id"])
        if isinstance(created, dict) and "id" in created:
            the_org.ids.add(str(created["id"]))
    if kind == "set_role" and response.status_code == 200:
        world.roles[(org, target)] = new_role
        await takes_effect_at_once(world, org, target)
    if kind == "remove_member" and response.status_code == 204:
        world.roles.pop((org, target), None)
        await takes_effect_at_once(world, org, target)


async def takes_effect_at_once(world: World, org: int, user: int) -> None:
    """The very next request of a member whose role changed gets the new answer."""
    api, role = world.api, world.role(org, user)
    url = f"/v1/orgs/{world.orgs[org].id}/customers"
    headers = api.auth(world.users[user])
    read = await api.client.get(url, headers=headers)
    write = await api.client.post(url, json={"name": "After the change"}, headers=headers)
    if role is None:
        assert (read.status_code, write.status_code) == (404, 404), "removed, still in"
    else:
        assert read.status_code == 200
        assert write.status_code == (201 if RANK[role] >= RANK["member"] else 403), role
    if write.status_code == 201:
        world.orgs[org].ids.add(write.json()["id"])


async def build_world(
    api: Api, admin: asyncpg.Connection[asyncpg.Record], grid: list[list[Role]]
) -> World:
    tag = uuid.uuid4().hex[:8]
    orgs = []
    for n in range(ORGS):
        owner = f"owner-{tag}-{n}"
        created = await api.create_org(owner)
        org = Org(str(created["id"]), owner, {str(created["id"])})
        customer = await api.client.post(
            f"/v1/orgs/{org.id}/customers", json={"name": f"Customer {n}"}, headers=api.auth(owner)
        )
        assert customer.status_code == 201
        org.customers.append(customer.json()["id"])
        org.ids.add(customer.json()["id"])
        orgs.append(org)
    users = [f"user-{tag}-{u}" for u in range(USERS)]
    world = World(api, admin, orgs, users, {})
    for n, row in enumerate(grid):
        for u, role in enumerate(row):
            if role is not None:
                await admin.execute(
                    "INSERT INTO memberships (org_id, subject, role) VALUES ($1, $2, $3)",
                    uuid.UUID(orgs[n].id),
                    users[u],
                    role,
                )
                world.roles[(n, u)] = role
    return world


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    grid=st.lists(st.lists(roles, min_size=USERS, max_size=USERS), min_size=ORGS, max_size=ORGS),
    ops=st.lists(operations, min_size=5, max_size=25),
)
async def test_random_operations_by_random_members_never_cross_organisations(
    api: Api, admin_database_url: str, grid: list[list[Role]], ops: list[Any]
) -> None:
    admin = await asyncpg.connect(admin_database_url)
    try:
        world = await build_world(api, admin, grid)
        for kind, actor, org, arg in ops:
            await step(world, kind, actor, org, arg)
    finally:
        await admin.close()
