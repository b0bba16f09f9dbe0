"""`POST …/invoices/{id}/send` end to end against a real SMTP server (aiosmtpd): the request
records and enqueues in one transaction; a worker sends one message per address with the
PDF; refusals and retries are visible on the delivery, the invoice and the event trail."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from penvoice.deliveries.job import SEND_INVOICE_EMAIL, outcome
from penvoice.jobs.worker import Worker
from tests.conftest import Api
from tests.deliveries.smtp_sink import SmtpSink
from tests.einvoices.conftest import make_seller
from tests.invoices.conftest import Billing, make_billing
from tests.jobs.helpers import eventually, worker_settings

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # sends render in the worker's render process

PROBLEMS = "https://penvoice.app/problems/"


async def open_invoice(billing: Billing) -> dict[str, Any]:
    draft = await billing.draft()
    finalized = await billing.post(f"/invoices/{draft['id']}/finalize", {})
    assert finalized.status_code == 200, finalized.text
    invoice: dict[str, Any] = finalized.json()
    return invoice


async def send(billing: Billing, invoice_id: str, body: Any = None, **headers: str) -> Any:
    return await billing.post(
        f"/invoices/{invoice_id}/send",
        body,
        **{"Idempotency-Key": str(uuid.uuid4()), **headers},
    )


async def deliveries(billing: Billing, invoice_id: str) -> list[dict[str, Any]]:
    response = await billing.api.client.get(
        f"{billing.base}/invoices/{invoice_id}/deliveries", headers=billing.headers()
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@asynccontextmanager
async def running_worker(database_url: str, sink: SmtpSink, **env: str) -> AsyncIterator[Worker]:
    settings = worker_settings(database_url, **{**sink.environ(), **env})
    worker = Worker(settings, [SEND_INVOICE_EMAIL])
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def settled(billing: Billing, invoice_id: str) -> dict[str, Any]:
    latest: dict[str, Any] = {}

    async def finished() -> bool:
        nonlocal latest
        latest = (await deliveries(billing, invoice_id))[0]
        return latest["finished_at"] is not None

    await eventually(finished)
    return latest


async def test_send_emails_the_invoice_with_its_pdf_once(api: Api, database_url: str) -> None:
    billing = await make_billing(api)
    invoice = await open_invoice(billing)
    with SmtpSink() as sink:
        response = await send(billing, invoice["id"], {"message": "Thank you for your business."})
        assert response.status_code == 202, response.text
        queued = response.json()
        assert queued["status"] == "queued"
        assert [r["address"] for r in queued["recipients"]] == ["ap@kunde.de"]
        assert queued["recipients"][0]["state"] == "pending"
        message_id = queued["recipients"][0]["message_id"]
        assert response.headers["Location"].endswith(f"/invoices/{invoice['id']}/deliveries")
        shown = await api.client.get(
            f"{billing.base}/invoices/{invoice['id']}", headers=billing.headers()
        )
        assert shown.json()["delivery_status"] == "queued"
        assert shown.json()["version"] == invoice["version"] + 1  # the ETag moved

        async with running_worker(database_url, sink):
            done = await settled(billing, invoice["id"])

        assert done["status"] == "sent"
        (recipient,) = done["recipients"]
        assert recipient["state"] == "sent"
        assert recipient["smtp_code"] == 250
        assert recipient["attempts"] == 1
        assert recipient["sent_at"] is not None
        (arrived,) = sink.arrived
        assert arrived.mail_from == "billing@penvoice.test"
        assert arrived.rcpt_tos == ["ap@kunde.de"]
        message = arrived.message
        assert message["Message-ID"] == message_id
        assert message["To"] == "ap@kunde.de"
        assert message["Subject"] == f"Invoice {invoice['number']} from Org of olivia"
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        text = body.get_content()
        assert "Thank you for your business." in text
        assert invoice["number"] in text
        (attachment,) = list(message.iter_attachments())
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_filename() == f"{invoice['number']}.pdf"
        assert attachment.get_content().startswith(b"%PDF-")

    shown = await api.client.get(
        f"{billing.base}/invoices/{invoice['id']}", headers=billing.headers()
    )
    assert shown.json()["delivery_status"] == "sent"
    trail = await api.client.get(
        f"{billing.base}/events", params={"subject_id": invoice["id"]}, headers=billing.headers()
    )
    types = [event["type"] for event in trail.json()["items"]]
    assert types[:2] == ["invoice.sent", "invoice.send_requested"]


async def test_refusals_are_visible_and_the_rest_is_sent(api: Api, database_url: str) -> None:
    billing = await make_billing(api)
    invoice = await open_invoice(billing)
    with SmtpSink() as sink:
        sink.handler.refuse.add("gone@kunde.de")
        response = await send(
            billing, invoice["id"], {"to": ["AP@kunde.de", "gone@kunde.de", "ap@kunde.de"]}
        )
        assert response.status_code == 202, response.text
        # the same address twice (case aside) is one recipient
        assert [r["address"] for r in response.json()["recipients"]] == [
            "ap@kunde.de",
            "gone@kunde.de",
        ]
        async with running_worker(database_url, sink):
            done = await settled(billing, invoice["id"])
        assert [a.rcpt_tos for a in sink.arrived] == [["ap@kunde.de"]]
    assert done["status"] == "partially_sent"
    refused = done["recipients"][1]
    assert refused["state"] == "refused"
    assert refused["smtp_code"] == 550
    assert "No such user" in refused["smtp_response"]
    trail = await api.client.get(
        f"{billing.base}/events",
        params={"type": "invoice.partially_sent"},
        headers=billing.headers(),
    )
    (event,) = trail.json()["items"]
    states = {r["address"]: r["state"] for r in event["data"]["recipients"]}
    assert states == {"ap@kunde.de": "sent", "gone@kunde.de": "refused"}


async def test_a_temporary_failure_is_retried_then_given_up_as_failed(
    api: Api, database_url: str
) -> None:
    billing = await make_billing(api)
    invoice = await open_invoice(billing)
    with SmtpSink() as sink:
        sink.handler.tempfail.add("ap@kunde.de")
        assert (await send(billing, invoice["id"])).status_code == 202
        async with running_worker(database_url, sink):  # JOB_MAX_ATTEMPTS=3, short backoff
            done = await settled(billing, invoice["id"])
        assert sink.arrived == []
    assert done["status"] == "failed"
    (recipient,) = done["recipients"]
    assert recipient["state"] == "failed"
    assert recipient["attempts"] == 3
    assert "451" in recipient["smtp_response"]


async def test_send_refuses_bad_requests_and_changes_nothing(
    api: Api, admin_database_url: str
) -> None:
    billing = await make_billing(api)
    draft = await billing.draft()
    response = await send(billing, draft["id"])
    assert response.status_code == 409
    assert response.json()["type"] == PROBLEMS + "invoice-not-sendable"
    assert response.json()["status_now"] == "draft"

    invoice = await open_invoice(billing)
    for body, field in [
        ({"to": ["not-an-address"]}, "body.to.0"),
        ({"to": []}, "body.to"),
        ({"to": ["a@b.example"] * 11}, "body.to"),
        ({"to": ["x\r\nBcc: evil@example.com@b.example"]}, "body.to.0"),
        ({"message": "x" * 5001}, "body.message"),
        ({"cc": ["a@b.example"]}, "body.cc"),
    ]:
        bad = await send(billing, invoice["id"], body)
        assert bad.status_code == 422, (body, bad.text)
        assert bad.json()["type"] == PROBLEMS + "validation-error"
        assert field in [e["field"] for e in bad.json()["errors"]], (body, bad.text)

    stale = await send(billing, invoice["id"], {}, **{"If-Match": '"1"'})
    assert stale.status_code == 412

    no_email = await api.client.post(
        f"{billing.base}/customers", json={"name": "No mail"}, headers=billing.headers()
    )
    draft = await billing.draft(customer_id=no_email.json()["id"])
    finalized = await billing.post(f"/invoices/{draft['id']}/finalize", {})
    missing = await send(billing, finalized.json()["id"])
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "body.to"

    conn = await asyncpg.connect(admin_database_url)
    try:  # none of the refused requests left a delivery or a job behind
        assert await conn.fetchval("SELECT count(*) FROM invoice_deliveries") == 0
        assert await conn.fetchval("SELECT count(*) FROM pgqueuer") == 0
    finally:
        await conn.close()


async def test_a_replayed_send_is_the_same_delivery(api: Api, admin_database_url: str) -> None:
    billing = await make_billing(api)
    invoice = await open_invoice(billing)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await billing.post(f"/invoices/{invoice['id']}/send", {}, **key)
    again = await billing.post(f"/invoices/{invoice['id']}/send", {}, **key)
    assert first.status_code == again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.json() == again.json()
    conn = await asyncpg.connect(admin_database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM pgqueuer") == 1
    finally:
        await conn.close()


def test_the_delivery_outcome_of_its_recipients() -> None:
    assert outcome(["sent", "sent"]) == "sent"
    assert outcome(["sent", "refused"]) == "partially_sent"
    assert outcome(["refused", "failed"]) == "failed"
    assert outcome(["sent", "unknown"]) == "unknown"


async def test_an_en16931_ready_invoice_is_mailed_with_its_e_invoice(
    api: Api, database_url: str
) -> None:
    seller = await make_seller(api)
    vat = await seller.rate("VAT 19%", "19", "S")
    line = {"description": "Design", "quantity": "2", "unit_amount": 10000, "tax_rate_ids": [vat]}
    invoice = await seller.finalized([line])
    with SmtpSink() as sink:
        sent = await seller.call("POST", f"/invoices/{invoice['id']}/send", {})
        assert sent.status_code == 202, sent.text
        async with running_worker(database_url, sink):

            async def arrived() -> bool:
                return bool(sink.arrived)

            await eventually(arrived)
        (mail,) = sink.arrived
    pdf, xml = mail.message.iter_attachments()
    assert pdf.get_content_type() == "application/pdf"
    assert xml.get_content_type() == "application/xml"
    assert xml.get_filename() == f"{invoice['number']}-cii.xml"
    content = xml.get_content()
    document = content if isinstance(content, bytes) else content.encode()
    assert b"CrossIndustryInvoice" in document
    assert invoice["number"].encode() in document


def _job_runs(worker: Worker) -> dict[str, float]:
    return {
        sample.labels["outcome"]: sample.value
        for metric in worker.metrics.jobs.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["kind"] == SEND_INVOICE_EMAIL.name
    }


@pytest.mark.parametrize(
    ("limit", "lines", "reason"),
    [
        # 40 lines of 300 characters fill several pages; the cap is one.
        ({"PDF_MAX_PAGES": "1"}, [{"description": "Audit " * 50}] * 40, "past 1 pages"),
        # 250 lines of 1,000 CJK characters take seconds to render; the budget is 0.3 s.
        (
            {"PDF_RENDER_TIMEOUT_SECONDS": "0.3"},
            [{"description": "発票明細項目" * 167}] * 250,
            "0.3 s",
        ),
    ],
    ids=["pages", "time"],
)
async def test_an_invoice_too_large_to_render_fails_at_once_with_the_reason(
    api: Api,
    database_url: str,
    admin_database_url: str,
    limit: dict[str, str],
    lines: list[dict[str, Any]],
    reason: str,
) -> None:
    billing = await make_billing(api)
    priced = [{**line, "quantity": "1", "unit_amount": 100} for line in lines]
    draft = await billing.draft(priced)
    large = await billing.post(f"/invoices/{draft['id']}/finalize", {})
    assert large.status_code == 200, large.text
    small = await open_invoice(billing)
    with SmtpSink() as sink:
        assert (await send(billing, large.json()["id"])).status_code == 202
        async with running_worker(database_url, sink, **limit) as worker:
            done = await settled(billing, large.json()["id"])
            assert (await send(billing, small["id"])).status_code == 202
            await settled(billing, small["id"])  # the next invoice renders and is sent
        runs = _job_runs(worker)  # the worker has stopped: every job it ran is counted
        assert [a.rcpt_tos for a in sink.arrived] == [["ap@kunde.de"]]
        assert sink.arrived[0].message["Subject"].startswith(f"Invoice {small['number']} ")
    assert runs == {"success": 2, "error": 0}  # the large one ran once, not retried
    assert done["status"] == "failed"
    (recipient,) = done["recipients"]
    assert recipient["state"] == "failed"
    assert recipient["attempts"] == 0  # no SMTP exchange began
    assert recipient["smtp_response"].startswith("pdf-too-large: ")
    assert reason in recipient["smtp_response"]
    trail = await api.client.get(
        f"{billing.base}/events",
        params={"subject_id": large.json()["id"], "type": "invoice.send_failed"},
        headers=billing.headers(),
    )
    (event,) = trail.json()["items"]
    assert event["data"]["recipients"][0]["smtp_response"] == recipient["smtp_response"]
    conn = await asyncpg.connect(admin_database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM pgqueuer") == 0
    finally:
        await conn.close()
