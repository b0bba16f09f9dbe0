"""Schemathesis against a real server: every operation, valid tokens, a seeded organisation.

Each operation of the served OpenAPI document gets generated requests, positive (valid by
the schema, half of them with the seeded organisation's real ids in the path) and negative
(invalid by the schema), sent over loopback with the seeded owner's token. Every response
must be no 5xx, a status code the operation documents, the documented content type, and a
body matching the documented schema; negative requests must be refused with a 4xx. The
server must log nothing at error level meanwhile.

`make test` sends a bounded number (`FUZZ_EXAMPLES` per operation and mode); `make soak`
raises it (`PENVOICE_FUZZ_EXAMPLES`) to thousands of requests in all.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from penvoice.dev.issuer import LocalIssuer
from tests.conftest import Api, app_environ, running_app
from tests.reliability.server import serve
from tests.test_isolation import Tenant, seed

FUZZ_EXAMPLES = int(os.environ.get("PENVOICE_FUZZ_EXAMPLES", "3"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


async def _seed(database_url: str, issuer: LocalIssuer) -> Tenant:
    async with running_app(app_environ(database_url, issuer)) as (app, client):
        return await seed(Api(client=client, issuer=issuer, app=app), "fuzz")


def real_ids(tenant: Tenant) -> dict[str, list[str]]:
    """Path parameter → the seeded organisation's ids that may fill it."""
    invoices = [
        tenant.draft_id,
        tenant.spare_draft_id,
        tenant.finalizable_id,
        tenant.open_id,
        tenant.collectible_id,
        tenant.paid_id,
    ]
    return {
        "org_id": [tenant.org_id],
        "subject": [tenant.member],  # never the owner: they could hand over and leave
        "invitation_id": [tenant.invitation_id],
        "invoice_id": invoices,
        "payment_id": [tenant.payment_id],
        "customer_id": [tenant.customer_id, tenant.spare_customer_id],
        "tax_rate_id": [tenant.tax_rate_id, tenant.spare_tax_rate_id],
    }


def with_real_body_ids(case: Case[Any], ids: dict[str, list[str]]) -> Case[Any]:
    """Ids inside bodies too, so creating invoices and payments can succeed."""
    body = case.body
    if isinstance(body, dict):
        if "customer_id" in body:
            body["customer_id"] = ids["customer_id"][0]
        if "currency" in body and case.operation.path.endswith("/payments"):
            body["currency"] = "USD"
        lines = body.get("lines")
        for line in lines if isinstance(lines, list) else []:
            if isinstance(line, dict) and line.get("tax_rate_ids"):
                line["tax_rate_ids"] = [ids["tax_rate_id"][0]]
    return case


def fuzz_operation(
    operation: Any,
    ids: dict[str, list[str]],
    send: Callable[[Case[Any]], None],
    examples: int,
) -> None:
    names = [p.name for p in operation.path_parameters]
    positive = operation.as_strategy(GenerationMode.POSITIVE)
    choices = [positive, operation.as_strategy(GenerationMode.NEGATIVE)]
    if names and all(name in ids for name in names):
        with_real_ids = st.fixed_dictionaries(
            {name: st.sampled_from(ids[name]) for name in names}
        ).flatmap(
            lambda chosen: operation.as_strategy(GenerationMode.POSITIVE, path_parameters=chosen)
        )
        choices += [with_real_ids, with_real_ids]  # most requests reach the handlers

    @settings(
        max_examples=examples * len(choices),
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(choices))
    def run(case: Case[Any]) -> None:
        send(case)

    run()


@pytest.mark.slow
@pytest.mark.timeout(max(120, FUZZ_EXAMPLES * 10))
def test_every_operation_answers_generated_requests_as_documented(
    database_url: str, issuer: LocalIssuer
) -> None:
    tenant = asyncio.run(_seed(database_url, issuer))
    ids = real_ids(tenant)
    token = issuer.mint_token(tenant.owner, expires_in=3600)
    with serve(app_environ(database_url, issuer)) as server:
        schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {token}"
            sent: dict[str, int] = {}
            failures: dict[str, str] = {}
            statuses: dict[int, int] = {}
            succeeded: set[str] = set()

            def send(case: Case[Any]) -> None:
                response = case.call(base_url=server.base_url, session=session, timeout=10)
                sent[label] = sent.get(label, 0) + 1
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code < 300:
                    succeeded.add(label)
                case.validate_response(response, checks=CHECKS)

            started = time.monotonic()
            for result in schema.get_all_operations():
                operation = result.ok()  # type: ignore[union-attr]
                label = operation.label
                try:
                    fuzz_operation(operation, ids, send, FUZZ_EXAMPLES)
                except (Exception, BaseExceptionGroup) as exc:  # reported together below
                    failures[label] = str(exc)[:3000]
            elapsed = time.monotonic() - started
        errors = server.error_lines()
    total = sum(sent.values())
    print(f"fuzz: {total} requests over {len(sent)} operations in {elapsed:.1f}s")
    print(f"fuzz: statuses {sorted(statuses.items())}")
    print(f"fuzz: never 2xx: {sorted(set(sent) - succeeded)}")
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    assert not errors, "\n".join(errors[:20])
    assert len(sent) >= 40
    # Real ids reach the handlers: most operations answered 2xx at least once.
    assert len(succeeded) >= 20, sorted(set(sent) - succeeded)
