"""The send request and the delivery record the API answers with."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints

from penvoice.fields import Strict as StrictBody

MAX_RECIPIENTS = 10
# RFC 5321 limits: 64 octets local part, 254 for a path. A deliberately plain check: one
# "@", no spaces or angle brackets, a dot in the domain; the SMTP server has the last word.
_ATOM = r"[^@\s<>,;\"\x00-\x1f\x7f]"
EMAIL_PATTERN = rf"^{_ATOM}{{1,64}}@{_ATOM}+\.{_ATOM}+$"
EmailAddress = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254, pattern=EMAIL_PATTERN)
]
DeliveryStatus = Literal["queued", "sent", "partially_sent", "failed", "unknown"]
RecipientState = Literal["pending", "sending", "committing", "sent", "refused", "failed", "unknown"]


class SendRequest(StrictBody):
    to: (
        Annotated[
            list[EmailAddress],
            Field(min_length=1, max_length=MAX_RECIPIENTS),
        ]
        | None
    ) = Field(
        default=None,
        description="Addresses to send to, one message each; default: the customer's email.",
    )
    message: Annotated[str, Field(max_length=5000)] = Field(
        default="", description="A note placed above the invoice summary in the email."
    )


class Recipient(BaseModel):
    address: str
    message_id: str = Field(description="The email's Message-ID, fixed when the send was asked.")
    state: RecipientState
    attempts: int
    smtp_code: int | None = Field(description="The server's last reply code, if any.")
    smtp_response: str | None = Field(description="The server's last reply text, if any.")
    sent_at: datetime | None


class Delivery(BaseModel):
    id: UUID
    invoice_id: UUID
    status: DeliveryStatus
    message: str
    requested_by: str
    requested_at: datetime
    finished_at: datetime | None
    recipients: list[Recipient]


class DeliveryList(BaseModel):
    items: list[Delivery]
