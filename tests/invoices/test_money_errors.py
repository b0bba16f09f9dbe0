"""Every money rule broken while lines are priced is a 4xx problem naming the line, never a
500: on creation, on an edit, and at finalization after a tax rate changed under a draft."""

from __future__ import annotations

import pytest

from tests.invoices.conftest import LINE, Billing

pytestmark = pytest.mark.anyio


async def _rate(billing: Billing, percentage: str, inclusive: bool) -> str:
    response = await billing.post(
        "/tax-rates", {"display_name": f"R {percentage}", "percentage": percentage,
                       "inclusive": inclusive}
    )  # fmt: skip
    assert response.status_code == 201, response.text
    rate_id: str = response.json()["id"]
    return rate_id


async def test_inclusive_rates_over_100_percent_on_create_are_a_422_on_the_line(
    billing: Billing,
) -> None:
    sixty = await _rate(billing, "60", True)
    fifty = await _rate(billing, "50", True)
    response = await billing.post(
        "/invoices",
        {"customer_id": billing.customer_id,
         "lines": [LINE, {**LINE, "tax_rate_ids": [sixty, fifty]}]},
    )  # fmt: skip
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "https://penvoice.app/problems/validation-error"
    assert [error["field"] for error in problem["errors"]] == ["body.lines.1.tax_rate_ids"]
    assert "100" in problem["errors"][0]["message"]


async def test_inclusive_rates_over_100_percent_on_an_edit_are_a_422(billing: Billing) -> None:
    sixty = await _rate(billing, "60", True)
    fifty = await _rate(billing, "50", True)
    draft = await billing.draft()
    response = await billing.api.client.patch(
        f"{billing.base}/invoices/{draft['id']}",
        json={"lines": [{**LINE, "tax_rate_ids": [sixty, fifty]}]},
        headers=billing.headers(),
    )
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["body.lines.0.tax_rate_ids"]


async def test_a_rate_edited_under_a_draft_makes_finalize_a_409_naming_line_and_rates(
    billing: Billing,
) -> None:
    """The rule: rates stay editable while only drafts use them; a draft they make
    unpriceable is refused at finalization with a 409 naming the line and its rates, and
    nothing is written (no number is taken)."""
    sixty = await _rate(billing, "60", True)
    thirty = await _rate(billing, "30", True)
    draft = await billing.draft([LINE, {**LINE, "tax_rate_ids": [sixty, thirty]}])
    edited = await billing.api.client.patch(
        f"{billing.base}/tax-rates/{thirty}", json={"percentage": "50"}, headers=billing.headers()
    )
    assert edited.status_code == 200, edited.text
    response = await billing.post(f"/invoices/{draft['id']}/finalize", {})
    assert response.status_code == 409, response.text
    problem = response.json()
    assert problem["type"] == "https://penvoice.app/problems/invoice-not-priceable"
    assert problem["line"] == 1
    assert [e["field"] for e in problem["errors"]] == ["lines.1.tax_rate_ids"]
    assert {
        (rate["id"], rate["percentage"], rate["inclusive"]) for rate in problem["tax_rates"]
    } == {
        (sixty, "60.0000", True),
        (thirty, "50.0000", True),
    }
    still = await billing.api.client.get(
        f"{billing.base}/invoices/{draft['id']}", headers=billing.headers()
    )
    assert (still.json()["status"], still.json()["number"]) == ("draft", None)
    # Fixing the rate makes the same draft finalizable, with the first number.
    await billing.api.client.patch(
        f"{billing.base}/tax-rates/{thirty}", json={"percentage": "30"}, headers=billing.headers()
    )
    done = await billing.post(f"/invoices/{draft['id']}/finalize", {})
    assert done.status_code == 200, done.text
    assert done.json()["number"] == "INV-000001"


async def test_an_exclusive_rate_raised_past_bigint_at_finalize_is_a_409(billing: Billing) -> None:
    rate = await _rate(billing, "0", False)
    big = {**LINE, "quantity": "1", "unit_amount": 2**63 - 1, "tax_rate_ids": [rate]}
    draft = await billing.draft([big])
    edited = await billing.api.client.patch(
        f"{billing.base}/tax-rates/{rate}", json={"percentage": "10"}, headers=billing.headers()
    )
    assert edited.status_code == 200, edited.text
    response = await billing.post(f"/invoices/{draft['id']}/finalize", {})
    assert response.status_code == 409, response.text
    assert response.json()["line"] == 0
