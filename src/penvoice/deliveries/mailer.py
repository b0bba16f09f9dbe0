"""SMTP through aiosmtplib: the session (TLS, STARTTLS, credentials) and the invoice email.

The exchange is driven step by step (MAIL, RCPT, then DATA) rather than with `send_message`,
so that the caller can commit "about to start DATA" before the one step after which the
server may hold the message (`deliveries.job`)."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, parseaddr

import aiosmtplib

from penvoice.config import WorkerSettings

# What a broken exchange raises when the server never said yes or no: transient.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    aiosmtplib.SMTPServerDisconnected,
    aiosmtplib.SMTPConnectError,
    aiosmtplib.SMTPTimeoutError,
    ConnectionError,
    TimeoutError,
    OSError,
)


# What setting up the session may raise before any message is under way: the server, its
# TLS or our credentials are wrong or unavailable. Retried, then the recipients fail.
SESSION_ERRORS: tuple[type[Exception], ...] = (
    aiosmtplib.SMTPAuthenticationError,
    aiosmtplib.SMTPConnectResponseError,
    aiosmtplib.SMTPHeloError,
    aiosmtplib.SMTPNotSupported,
    aiosmtplib.SMTPException,  # e.g. no STARTTLS offered: never fall back to plain text
    ssl.SSLError,
)


class MailNotConfigured(Exception):
    """SMTP_HOST is not set: the job waits (is retried) until the operator sets it."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    media_type: str  # "application/pdf"
    content: bytes


@dataclass(frozen=True)
class InvoiceEmail:
    sender: str  # SMTP_FROM, a display name and an address
    recipient: str
    message_id: str
    subject: str
    text: str
    attachments: tuple[Attachment, ...]
    reply_to: str | None = None

    def as_bytes(self) -> bytes:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = self.recipient
        message["Subject"] = self.subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = self.message_id
        if self.reply_to:
            message["Reply-To"] = self.reply_to
        message.set_content(self.text)
        for attachment in self.attachments:
            main, sub = attachment.media_type.split("/", 1)
            message.add_attachment(
                attachment.content, maintype=main, subtype=sub, filename=attachment.filename
            )
        return message.as_bytes(policy=SMTP_POLICY)


def envelope_sender(settings: WorkerSettings) -> str:
    assert settings.smtp_from is not None
    return parseaddr(settings.smtp_from)[1]


def _tls_context(settings: WorkerSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=settings.smtp_ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@contextlib.asynccontextmanager
async def smtp_session(settings: WorkerSettings) -> AsyncIterator[aiosmtplib.SMTP]:
    """A connected, greeted, (STARTTLS-)encrypted and authenticated SMTP session."""
    if not settings.smtp_host or not settings.smtp_from:
        raise MailNotConfigured("SMTP_HOST and SMTP_FROM are not set: no mail can be sent")
    security = settings.smtp_security
    client = aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=settings.smtp_effective_port,
        username=settings.smtp_username,
        password=(settings.smtp_password.get_secret_value() if settings.smtp_password else None),
        timeout=settings.smtp_timeout_seconds,
        use_tls=security == "tls",
        start_tls=security == "starttls",
        tls_context=_tls_context(settings) if security != "none" else None,
    )
    await client.connect()
    try:
        yield client
    finally:
        with contextlib.suppress(*CONNECTION_ERRORS, aiosmtplib.SMTPException):
            await client.quit()
        client.close()
