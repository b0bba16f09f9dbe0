"""Tenant isolation, route by route, enumerated from the OpenAPI document.

Two organisations, A and B, each seeded with one of every resource. For every operation
whose path contains `{org_id}`:

- A's owner calling it with B's org id and B's real resource ids gets the same 404
  problem+json as for ids that do not exist at all, and no row of either organisation
  changes (every row compared, in full, through the superuser connection);
- A's owner calling it with A's org id and B's resource ids (each non-empty combination,
  the rest A's) gets that 404 too;
- the very same requests succeed for the rightful owner afterwards, so each 404 came from
  tenancy, not from a malformed request.

`CASES` says how to call each operation (body, which seeded resource fills each path
parameter); an operation missing from it fails `test_every_tenant_route_is_in_the_table`.
"""

from __future__ import annotations

import itertools
import json
import string
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import Api

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # the PDF route starts the render worker

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
LINE = {"description": "Design work", "quantity": "3", "unit_amount": 12000}
NOT_FOUND_TYPE = "https://penvoice.app/problems/not-found"
# The app's operations under /v1/orgs/{org_id} when this test was written; more is fine.
KNOWN_TENANT_OPERATIONS = 31


@dataclass(frozen=True)
class Tenant:
    """An organisation with one of every resource (ids as strings, as the API shows them)."""

    owner: str
    member: str
    org_id: str
    name: str
    customer_id: str  # invoiced
    spare_customer_id: str  # never invoiced: deletable
    tax_rate_id: str  # on invoice lines
    spare_tax_rate_id: str  # unused: deletable
    invitation_id: str  # pending
    draft_id: str  # edited
    spare_draft_id: str  # deleted
    finalizable_id: str  # a draft to finalize
    open_id: str  # to void
    collectible_id: str  # to mark uncollectible
    paid_id: str  # open, partly paid
    payment_id: str  # on paid_id
    credit_note_id: str  # on paid_id
    endpoint_id: str  # a webhook endpoint (never contacted: no worker runs here)
    spare_endpoint_id: str  # deleted
    message_id: str  # a webhook message of endpoint_id
    schedule_id: str  # a recurring schedule
    spare_schedule_id: str  # deleted

    def identifiers(self) -> set[str]:
        """Every value that belongs to this tenant alone (ids, subjects, its name)."""
        return {str(value) for value in self.__dict__.values()}


@dataclass(frozen=True)
class Case:
    """How to call one operation: its JSON body, and which `Tenant` field fills each path
    parameter when it differs from `DEFAULT_IDS`."""

    body: Callable[[Tenant], object] | None = None
    ids: Mapping[str, str] = field(default_factory=dict)


DEFAULT_IDS = {
    "subject": "member",
    "invitation_id": "invitation_id",
    "invoice_id": "draft_id",
    "payment_id": "payment_id",
    "customer_id": "customer_id",
    "tax_rate_id": "tax_rate_id",
    "credit_note_id": "credit_note_id",
    "endpoint_id": "endpoint_id",
    "message_id": "message_id",
    "schedule_id": "schedule_id",
}
PAYMENT = {"amount": 100, "currency": "USD", "paid_on": "2026-01-10", "method": "cash"}

ORG = "/v1/orgs/{org_id}"
INVOICES = ORG + "/invoices"
INVOICE = INVOICES + "/{invoice_id}"
PAYMENTS = INVOICE + "/payments"
CUSTOMERS = ORG + "/customers"
RATES = ORG + "/tax-rates"
CREDIT_NOTE = ORG + "/credit-notes/{credit_note_id}"
HOOKS = ORG + "/webhook-endpoints"
HOOK = HOOKS + "/{endpoint_id}"
# A public address literal: registering it resolves nothing, and nothing delivers here.
PUBLIC_HOOK = "https://93.184.216.34/penvoice-hook"
SCHEDULES = ORG + "/recurring-schedules"
SCHEDULE = SCHEDULES + "/{schedule_id}"


def schedule_body(t: Tenant) -> dict[str, object]:
    return {
        "customer_id": t.customer_id,
        "frequency": "monthly",
        "start_date": "2030-01-31",
        "template": {"lines": [LINE]},
    }


CASES: dict[tuple[str, str], Case] = {
    ("GET", ORG): Case(),
    ("PATCH", ORG): Case(lambda t: {"name": "Renamed"}),
    ("GET", ORG + "/members"): Case(),
    ("PATCH", ORG + "/members/{subject}"): Case(lambda t: {"role": "admin"}),
    ("DELETE", ORG + "/members/{subject}"): Case(),
    ("GET", ORG + "/invitations"): Case(),
    ("POST", ORG + "/invitations"): Case(lambda t: {"email": "new@example.com"}),
    ("DELETE", ORG + "/invitations/{invitation_id}"): Case(),
    ("GET", ORG + "/events"): Case(),
    ("GET", ORG + "/reports/ar-aging"): Case(),
    ("GET", INVOICES): Case(),
    ("POST", INVOICES): Case(lambda t: {"customer_id": t.customer_id, "lines": [LINE]}),
    ("GET", INVOICE): Case(),
    ("PATCH", INVOICE): Case(lambda t: {"memo": "changed"}),
    ("DELETE", INVOICE): Case(ids={"invoice_id": "spare_draft_id"}),
    ("POST", INVOICE + "/finalize"): Case(lambda t: {}, {"invoice_id": "finalizable_id"}),
    ("POST", INVOICE + "/void"): Case(ids={"invoice_id": "open_id"}),
    ("POST", INVOICE + "/mark-uncollectible"): Case(ids={"invoice_id": "collectible_id"}),
    ("GET", INVOICE + "/pdf"): Case(ids={"invoice_id": "paid_id"}),  # a draft has no PDF
    ("POST", INVOICE + "/send"): Case(lambda t: {}, {"invoice_id": "paid_id"}),
    ("GET", INVOICE + "/deliveries"): Case(ids={"invoice_id": "paid_id"}),
    ("GET", INVOICES + ".csv"): Case(),
    ("GET", INVOICE + "/e-invoice"): Case(ids={"invoice_id": "paid_id"}),  # CII by default
    ("GET", INVOICE + "/e-invoice/readiness"): Case(),
    ("POST", INVOICE + "/credit-notes"): Case(lambda t: {"amount": 100}, {"invoice_id": "paid_id"}),
    ("GET", INVOICE + "/credit-notes"): Case(ids={"invoice_id": "paid_id"}),
    ("GET", CREDIT_NOTE): Case(),
    ("GET", CREDIT_NOTE + "/pdf"): Case(),
    ("GET", CREDIT_NOTE + "/e-invoice"): Case(),
    ("GET", PAYMENTS): Case(ids={"invoice_id": "paid_id"}),
    ("POST", PAYMENTS): Case(lambda t: PAYMENT, {"invoice_id": "paid_id"}),
    ("DELETE", PAYMENTS + "/{payment_id}"): Case(ids={"invoice_id": "paid_id"}),
    ("GET", CUSTOMERS): Case(),
    ("POST", CUSTOMERS): Case(lambda t: {"name": "New customer"}),
    ("GET", CUSTOMERS + "/{customer_id}"): Case(),
    ("PATCH", CUSTOMERS + "/{customer_id}"): Case(lambda t: {"notes": "changed"}),
    ("DELETE", CUSTOMERS + "/{customer_id}"): Case(ids={"customer_id": "spare_customer_id"}),
    ("GET", RATES): Case(),
    ("POST", RATES): Case(
        lambda t: {"display_name": "GST", "percentage": "10", "inclusive": False}
    ),
    ("GET", RATES + "/{tax_rate_id}"): Case(),
    ("PATCH", RATES + "/{tax_rate_id}"): Case(lambda t: {"display_name": "Renamed rate"}),
    ("DELETE", RATES + "/{tax_rate_id}"): Case(ids={"tax_rate_id": "spare_tax_rate_id"}),
    ("GET", HOOKS): Case(),
    ("POST", HOOKS): Case(lambda t: {"url": PUBLIC_HOOK}),
    ("GET", HOOK): Case(),
    ("PATCH", HOOK): Case(lambda t: {"description": "renamed"}),
    ("DELETE", HOOK): Case(ids={"endpoint_id": "spare_endpoint_id"}),
    ("POST", HOOK + "/rotate-secret"): Case(lambda t: {}),
    ("GET", HOOK + "/messages"): Case(),
    ("POST", HOOK + "/messages/{message_id}/resend"): Case(),
    ("GET", SCHEDULES): Case(),
    ("POST", SCHEDULES): Case(schedule_body),
    ("GET", SCHEDULE): Case(),
    ("PATCH", SCHEDULE): Case(lambda t: {"enabled": False}),
    ("DELETE", SCHEDULE): Case(ids={"schedule_id": "spare_schedule_id"}),
    ("GET", SCHEDULE + "/runs"): Case(),
}
# The rightful owner replays the requests in this order, so each one still applies.
METHOD_ORDER = {"GET": 0, "PATCH": 1, "PUT": 1, "POST": 2, "DELETE": 3}


def tenant_operations(api: Api) -> list[tuple[str, str]]:
    paths: dict[str, dict[str, Any]] = api.app.openapi()["paths"]
    return sorted(
        (method.upper(), path)
        for path, operations in paths.items()
        if "{org_id}" in path
        for method in operations
        if method in HTTP_METHODS
    )


def resource_parameters(path: str) -> list[str]:
    names = [name for _, name, _, _ in string.Formatter().parse(path) if name]
    return [name for name in names if name != "org_id"]


def ids_of(tenant: Tenant, case: Case, parameters: list[str]) -> dict[str, str]:
    return {
        name: str(getattr(tenant, case.ids.get(name, DEFAULT_IDS[name]))) for name in parameters
    }


def random_id(name: str) -> str:
    if name == "subject":
        return f"nobody-{uuid.uuid4().hex[:8]}"
    if name == "message_id":
        return f"msg_{uuid.uuid4().hex}"
    return str(uuid.uuid4())


def random_ids(parameters: list[str]) -> dict[str, str]:
    return {name: random_id(name) for name in parameters}


async def call(
    api: Api,
    caller: str,
    method: str,
    url: str,
    body: object = None,
    **headers: str,
) -> httpx.Response:
    return await api.client.request(method, url, json=body, headers={**api.auth(caller), **headers})


async def ok(api: Api, caller: str, method: str, url: str, body: object = None) -> Any:
    response = await call(api, caller, method, url, body)
    assert response.status_code in {200, 201, 202}, f"{method} {url}: {response.text}"
    return response.json()


async def seed(api: Api, tag: str) -> Tenant:
    owner, member = f"tenant-{tag}-owner", f"tenant-{tag}-member"
    address = {"line1": "1 High St", "city": "Leeds", "country": "GB"}
    org = await api.create_org(
        owner, default_currency="USD", postal_address=address, vat_id="GB123456789"
    )
    base = f"/v1/orgs/{org['id']}"
    customer = await ok(
        api,
        owner,
        "POST",
        f"{base}/customers",
        {"name": f"Customer of {tag}", "email": f"ap@{tag}.example", "postal_address": address},
    )
    spare_customer = await ok(api, owner, "POST", f"{base}/customers", {"name": "Spare"})
    rate_body = {"display_name": "VAT", "percentage": "20", "inclusive": False, "vat_category": "S"}
    rate = await ok(api, owner, "POST", f"{base}/tax-rates", rate_body)
    spare_rate = await ok(api, owner, "POST", f"{base}/tax-rates", rate_body)
    invited = await ok(
        api,
        owner,
        "POST",
        f"{base}/invitations",
        {"email": f"{member}@example.com", "role": "member"},
    )
    accepted = await api.client.post(
        f"/v1/invitations/{invited['id']}/accept",
        headers=api.auth(member, email=f"{member}@example.com"),
    )
    assert accepted.status_code == 200, accepted.text
    pending = await ok(
        api,
        owner,
        "POST",
        f"{base}/invitations",
        {"email": f"pending-{tag}@example.com", "role": "viewer"},
    )
    line = {**LINE, "tax_rate_ids": [rate["id"]]}
    drafts = [
        (
            await ok(
                api,
                owner,
                "POST",
                f"{base}/invoices",
                {"customer_id": customer["id"], "lines": [line]},
            )
        )["id"]
        for _ in range(6)
    ]
    for invoice_id in drafts[3:]:
        await ok(api, owner, "POST", f"{base}/invoices/{invoice_id}/finalize", {})
    payment = await ok(
        api, owner, "POST", f"{base}/invoices/{drafts[5]}/payments", {**PAYMENT, "amount": 1000}
    )
    credit_note = await ok(
        api, owner, "POST", f"{base}/invoices/{drafts[5]}/credit-notes", {"amount": 500}
    )
    hooks = f"{base}/webhook-endpoints"
    endpoint = await ok(api, owner, "POST", hooks, {"url": PUBLIC_HOOK})
    spare_endpoint = await ok(api, owner, "POST", hooks, {"url": PUBLIC_HOOK})
    messages = await ok(api, owner, "GET", f"{hooks}/{endpoint['id']}/messages")
    schedules = f"{base}/recurring-schedules"
    plan = {
        "customer_id": customer["id"],
        "frequency": "monthly",
        "start_date": "2030-01-31",
        "template": {"lines": [LINE]},
    }
    schedule = await ok(api, owner, "POST", schedules, plan)
    spare_schedule = await ok(api, owner, "POST", schedules, plan)
    return Tenant(
        owner=owner,
        member=member,
        org_id=str(org["id"]),
        name=str(org["name"]),
        customer_id=customer["id"],
        spare_customer_id=spare_customer["id"],
        tax_rate_id=rate["id"],
        spare_tax_rate_id=spare_rate["id"],
        invitation_id=pending["id"],
        draft_id=drafts[0],
        spare_draft_id=drafts[1],
        finalizable_id=drafts[2],
        open_id=drafts[3],
        collectible_id=drafts[4],
        paid_id=drafts[5],
        payment_id=payment["id"],
        credit_note_id=credit_note["id"],
        endpoint_id=endpoint["id"],
        spare_endpoint_id=spare_endpoint["id"],
        message_id=messages["items"][0]["id"],
        schedule_id=schedule["id"],
        spare_schedule_id=spare_schedule["id"],
    )


TENANT_TABLES = (
    "memberships",
    "invitations",
    "customers",
    "tax_rates",
    "invoice_number_counters",
    "invoices",
    "invoice_lines",
    "invoice_line_taxes",
    "payments",
    "events",
    "credit_note_counters",
    "credit_notes",
    "credit_note_lines",
    "webhook_endpoints",
    "webhook_secrets",
    "webhook_messages",  # (webhook_attempts are written by the worker only)
    "recurring_schedules",
)


async def snapshot(admin_database_url: str, *tenants: Tenant) -> dict[str, list[str]]:
    """Every row of the tenants (and every stored idempotency key), as JSON text."""
    conn = await asyncpg.connect(admin_database_url)
    try:
        rows: dict[str, list[str]] = {}
        for tenant in tenants:
            org_id = uuid.UUID(tenant.org_id)
            rows[f"{tenant.owner}:organisations"] = [
                await conn.fetchval(
                    "SELECT to_jsonb(o)::text FROM organisations o WHERE id = $1", org_id
                )
            ]
            for table in TENANT_TABLES:
                rows[f"{tenant.owner}:{table}"] = [
                    record[0]
                    for record in await conn.fetch(
                        f"SELECT to_jsonb(t)::text FROM {table} t WHERE org_id = $1 ORDER BY 1",
                        org_id,
                    )
                ]
        rows["idempotency_keys"] = [
            record[0]
            for record in await conn.fetch(
                "SELECT to_jsonb(k)::text FROM idempotency_keys k ORDER BY 1"
            )
        ]
        return rows
    finally:
        await conn.close()


def not_found_problem(response: httpx.Response, label: str, secrets: set[str]) -> list[str]:
    """What is wrong with `response` as the 404 a non-member must get (empty: nothing)."""
    if response.status_code != 404:
        return [f"{label}: {response.status_code} {response.text[:200]}"]
    problems = []
    if response.headers.get("content-type") != "application/problem+json":
        problems.append(f"{label}: content-type {response.headers.get('content-type')}")
    elif response.json().get("type") != NOT_FOUND_TYPE:
        problems.append(f"{label}: problem type {response.json().get('type')}")
    leaked = {secret for secret in secrets if secret in response.text}
    if leaked:
        problems.append(f"{label}: the 404 shows {leaked}")
    return problems


@pytest.fixture
async def tenants(api: Api) -> tuple[Tenant, Tenant]:
    return await seed(api, "a"), await seed(api, "b")


async def test_every_tenant_route_is_in_the_table(api: Api) -> None:
    operations = tenant_operations(api)
    missing = sorted(set(operations) - set(CASES))
    stale = sorted(set(CASES) - set(operations))
    assert not missing, f"tenant routes this test does not know how to call: {missing}"
    assert not stale, f"routes in the table that the app no longer has: {stale}"
    assert len(operations) >= KNOWN_TENANT_OPERATIONS
    for method, path in operations:
        unknown = set(resource_parameters(path)) - set(DEFAULT_IDS)
        assert not unknown, f"{method} {path}: no seeded resource for {unknown}"


async def test_a_non_member_gets_404_on_every_tenant_route_and_nothing_changes(
    api: Api, tenants: tuple[Tenant, Tenant], admin_database_url: str
) -> None:
    a, b = tenants
    operations = tenant_operations(api)
    before = await snapshot(admin_database_url, a, b)
    failures: list[str] = []
    for number, (method, path) in enumerate(operations):
        case = CASES.get((method, path), Case())
        parameters = resource_parameters(path)
        key = {"Idempotency-Key": f"attack-{number}"} if method == "POST" else {}
        body = case.body(b) if case.body else None
        label = f"{method} {path}"
        url = path.format(org_id=b.org_id, **ids_of(b, case, parameters))
        real = await call(api, a.owner, method, url, body, **key)
        failures += not_found_problem(real, label, b.identifiers() - set(url.split("/")))
        nowhere = path.format(org_id=uuid.uuid4(), **random_ids(parameters))
        invented = await call(api, a.owner, method, nowhere, body, **key)
        if (invented.status_code, invented.content) != (real.status_code, real.content):
            failures.append(f"{label}: B's org answers unlike a missing one: {real.text[:200]}")
    assert not failures, "\n".join(failures)
    assert len(operations) >= KNOWN_TENANT_OPERATIONS
    after = await snapshot(admin_database_url, a, b)
    assert after == before
    assert all(before[f"{b.owner}:{table}"] for table in TENANT_TABLES)  # a real snapshot

    # The same requests, made by B's owner, are valid: each of the 404s was tenancy's.
    for method, path in sorted(operations, key=lambda op: METHOD_ORDER[op[0]]):
        case = CASES[(method, path)]
        url = path.format(org_id=b.org_id, **ids_of(b, case, resource_parameters(path)))
        response = await call(api, b.owner, method, url, case.body(b) if case.body else None)
        if not 200 <= response.status_code < 300:
            failures.append(f"{method} {path} as B's owner: {response.text}")
    assert not failures, "\n".join(failures)
    a_after = await snapshot(admin_database_url, a)
    assert all(a_after[name] == before[name] for name in a_after)  # B's writes stay in B


async def test_own_org_id_with_another_orgs_resource_ids_is_404(
    api: Api, tenants: tuple[Tenant, Tenant], admin_database_url: str
) -> None:
    a, b = tenants
    before = await snapshot(admin_database_url, a, b)
    failures: list[str] = []
    exercised = 0
    operations = [op for op in tenant_operations(api) if resource_parameters(op[1])]
    for method, path in operations:
        case = CASES.get((method, path), Case())
        parameters = resource_parameters(path)
        body = case.body(a) if case.body else None
        own, theirs = ids_of(a, case, parameters), ids_of(b, case, parameters)
        for size in range(1, len(parameters) + 1):
            for foreign in itertools.combinations(parameters, size):
                label = f"{method} {path} with B's {', '.join(foreign)}"
                mixed = {**own, **{name: theirs[name] for name in foreign}}
                real = await call(api, a.owner, method, path.format(org_id=a.org_id, **mixed), body)
                failures += not_found_problem(real, label, b.identifiers() - set(mixed.values()))
                invented = {**own, **random_ids(list(foreign))}
                missing = await call(
                    api, a.owner, method, path.format(org_id=a.org_id, **invented), body
                )
                if (missing.status_code, missing.content) != (real.status_code, real.content):
                    failures.append(f"{label}: answers unlike a missing id: {real.text[:200]}")
                exercised += 1
    assert not failures, "\n".join(failures)
    assert len(operations) >= 18
    assert exercised >= 20  # payments/{payment_id} has three combinations
    assert await snapshot(admin_database_url, a, b) == before

    # With A's own ids the same requests work: the 404s were about B's ids.
    for method, path in sorted(operations, key=lambda op: METHOD_ORDER[op[0]]):
        case = CASES[(method, path)]
        url = path.format(org_id=a.org_id, **ids_of(a, case, resource_parameters(path)))
        response = await call(api, a.owner, method, url, case.body(a) if case.body else None)
        if not 200 <= response.status_code < 300:
            failures.append(f"{method} {path} with A's own ids: {response.text}")
    assert not failures, "\n".join(failures)


async def test_bodies_cannot_reference_another_orgs_customer_or_tax_rate(
    api: Api, tenants: tuple[Tenant, Tenant], admin_database_url: str
) -> None:
    a, b = tenants
    before = await snapshot(admin_database_url, a, b)
    invoices, draft = f"/v1/orgs/{a.org_id}/invoices", f"/v1/orgs/{a.org_id}/invoices/{a.draft_id}"
    foreign_rate_line = {**LINE, "tax_rate_ids": [b.tax_rate_id]}
    attempts: list[tuple[str, str, dict[str, Any], str, str]] = [
        (
            "POST",
            invoices,
            {"customer_id": b.customer_id, "lines": [LINE]},
            "body.customer_id",
            b.customer_id,
        ),
        (
            "POST",
            invoices,
            {"customer_id": a.customer_id, "lines": [foreign_rate_line]},
            "body.lines.0.tax_rate_ids",
            b.tax_rate_id,
        ),
        ("PATCH", draft, {"customer_id": b.customer_id}, "body.customer_id", b.customer_id),
        (
            "PATCH",
            draft,
            {"lines": [LINE, foreign_rate_line]},
            "body.lines.1.tax_rate_ids",
            b.tax_rate_id,
        ),
    ]
    for method, url, body, field_name, foreign_id in attempts:
        refused = await call(api, a.owner, method, url, body)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        [error] = refused.json()["errors"]
        assert error["field"] == field_name
        # Indistinguishable from an id that exists nowhere.
        invented = str(uuid.uuid4())
        swapped = json.loads(json.dumps(body).replace(foreign_id, invented))
        missing = await call(api, a.owner, method, url, swapped)
        assert missing.json()["errors"] == [
            {**error, "message": error["message"].replace(foreign_id, invented)}
        ]
    assert await snapshot(admin_database_url, a, b) == before


async def test_lists_under_one_org_never_show_another_orgs_ids(
    api: Api, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    # B archives things too, so the archived lists have B rows to leak.
    for url in (
        f"/v1/orgs/{b.org_id}/customers/{b.spare_customer_id}",
        f"/v1/orgs/{b.org_id}/tax-rates/{b.spare_tax_rate_id}",
    ):
        await ok(api, b.owner, "PATCH", url, {"archived": True})
    base = f"/v1/orgs/{a.org_id}"
    # A writes after B did, so A's and B's rows interleave in every table's key order.
    await ok(api, a.owner, "PATCH", f"{base}/customers/{a.customer_id}", {"notes": "later"})
    await ok(api, a.owner, "POST", f"{base}/invoices", {"customer_id": a.customer_id})
    lists = [
        "/v1/me",
        base,
        f"{base}/members",
        f"{base}/invitations",
        f"{base}/invoices?limit=100",
        f"{base}/invoices?limit=100&status=open",
        f"{base}/customers?limit=100",
        f"{base}/customers?limit=100&archived=true",
        f"{base}/tax-rates?limit=100",
        f"{base}/tax-rates?limit=100&archived=true",
        f"{base}/events?limit=100",
        f"{base}/invoices/{a.paid_id}/payments",
        f"{base}/reports/ar-aging",
        f"{base}/webhook-endpoints",
        f"{base}/webhook-endpoints/{a.endpoint_id}/messages",
        f"{base}/recurring-schedules",
    ]
    seen = ""
    for url in lists:
        shown = await ok(api, a.owner, "GET", url)
        text = json.dumps(shown)
        leaked = {value for value in b.identifiers() if value in text}
        assert not leaked, f"{url} shows B's {leaked}"
        seen += text
    # The lists are not empty: A's own resources are all there.
    assert {value for value in a.identifiers() if value not in seen} == set()
    # Filters naming B's resources find nothing under A.
    for url in (
        f"{base}/invoices?customer_id={b.customer_id}",
        f"{base}/events?subject_id={b.paid_id}",
        f"{base}/events?subject_id={b.customer_id}",
    ):
        assert (await ok(api, a.owner, "GET", url))["items"] == [], url
    # Cursors stay inside the organisation: page by page, the same items as one big page.
    for path in ("invoices", "customers", "tax-rates", "events"):
        everything = (await ok(api, a.owner, "GET", f"{base}/{path}?limit=100"))["items"]
        paged: list[Any] = []
        cursor = ""
        while True:
            page = await ok(api, a.owner, "GET", f"{base}/{path}?limit=2{cursor}")
            paged += page["items"]
            if page["next_cursor"] is None:
                break
            cursor = f"&cursor={page['next_cursor']}"
        assert paged == everything, path
