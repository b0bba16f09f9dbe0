"""Each distinct problem has its own documented `type`: docs/problems.md lists every slug
the code answers, and the conflicts the services raise are told apart by `type` alone."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from penvoice import errors
from tests.conftest import Api
from tests.invoices.conftest import LINE, make_billing

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "penvoice"


def documented() -> list[str]:
    """The slugs of docs/problems.md's tables, in order."""
    text = (ROOT / "docs" / "problems.md").read_text(encoding="utf-8")
    return re.findall(r"^\| `([a-z-]+)` \|", text, re.MULTILINE)


def error_classes() -> list[type[errors.PenvoiceError]]:
    pending = [errors.PenvoiceError]
    seen: list[type[errors.PenvoiceError]] = []
    while pending:
        cls = pending.pop()
        seen.append(cls)
        pending.extend(cls.__subclasses__())
    return seen


def slugs_in_source() -> set[str]:
    """Slugs passed as literals to `problem_response` / `_raw_problem` / `_send_problem`."""
    found = set()
    for path in SOURCE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in {"problem_response", "_raw_problem", "_send_problem"}:
                found |= {
                    arg.value
                    for arg in node.args
                    if isinstance(arg, ast.Constant)
                    and isinstance(arg.value, str)
                    and re.fullmatch(r"[a-z]+(-[a-z]+)+|[a-z]+", arg.value)
                    and arg.value not in {"Bad Request"}
                }
    return found


def test_every_slug_the_code_answers_is_documented_and_every_documented_one_exists() -> None:
    in_code = {cls.slug for cls in error_classes()}
    in_code |= slugs_in_source() | {"internal-error"}
    assert len(documented()) == len(set(documented()))
    in_docs = set(documented())
    assert in_code - in_docs == set(), "answered but not documented"
    assert in_docs - in_code == set(), "documented but never answered"


def test_each_conflict_class_has_its_own_slug() -> None:
    conflicts = [cls for cls in error_classes() if issubclass(cls, errors.Conflict)]
    slugs = [cls.slug for cls in conflicts]
    assert len(conflicts) >= 18
    assert len(set(slugs)) == len(slugs)
    assert all(cls.status == 409 for cls in conflicts)


def test_services_raise_no_untyped_conflict() -> None:
    offenders = []
    for path in SOURCE.rglob("*.py"):
        relative = path.relative_to(SOURCE).as_posix()
        if relative == "errors.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Conflict":
                offenders.append(f"{relative}:{node.lineno}")
    assert offenders == []


@pytest.mark.anyio
async def test_the_apis_conflicts_are_told_apart_by_type(api: Api) -> None:
    billing = await make_billing(api)
    base, headers = billing.base, billing.headers()
    seen: dict[str, str] = {}

    async def expect(slug: str, method: str, path: str, body: object = None) -> None:
        response = await api.client.request(method, f"{base}{path}", json=body, headers=headers)
        assert response.status_code == 409, (slug, response.text)
        problem = response.json()
        assert problem["type"] == errors.PROBLEM_BASE + slug, problem
        seen[slug] = problem["title"]

    empty = await billing.draft()
    await api.client.patch(f"{base}/invoices/{empty['id']}", json={"lines": []}, headers=headers)
    await expect("invoice-without-lines", "POST", f"/invoices/{empty['id']}/finalize", {})
    used = await billing.draft([{**LINE, "tax_rate_ids": [billing.levy_exclusive]}])
    assert (await billing.post(f"/invoices/{used['id']}/finalize", {})).status_code == 200
    await expect("invalid-transition", "POST", f"/invoices/{used['id']}/finalize", {})
    await expect("invoice-not-editable", "PATCH", f"/invoices/{used['id']}", {"memo": "x"})
    paid = {"amount": 1, "currency": "USD", "paid_on": "2026-11-20", "method": "cash"}
    assert (await billing.post(f"/invoices/{used['id']}/payments", paid)).status_code == 201
    await expect("invoice-has-payments", "POST", f"/invoices/{used['id']}/void")
    await expect("invoice-not-payable", "POST", f"/invoices/{empty['id']}/payments", paid)
    levy = f"/tax-rates/{billing.levy_exclusive}"
    await expect("tax-rate-frozen", "PATCH", levy, {"percentage": "6"})
    await expect("tax-rate-in-use", "DELETE", levy)
    await expect("customer-invoiced", "DELETE", f"/customers/{billing.customer_id}")
    await expect("customer-email-taken", "POST", "/customers",
                 {"name": "Twin", "email": "ap@kunde.de"})  # fmt: skip
    await expect("last-owner", "DELETE", f"/members/{billing.owner}")
    assert (await billing.post("/invitations", {"email": "a@example.com"})).status_code == 201
    await expect("invitation-pending", "POST", "/invitations", {"email": "a@example.com"})
    assert len(seen) == 11
    assert seen["invitation-pending"] == "Invitation already pending"
    assert {seen[slug] for slug in seen if slug != "invitation-pending"} == {"Conflict"}
