"""Builders of inbound test mail: customer messages and replies, delivery status reports
and out-of-office replies, as the bytes a mail server would pass on."""

from __future__ import annotations

import itertools
from email.message import EmailMessage

_counter = itertools.count(1)


def new_message_id(domain: str = "customer.example") -> str:
    return f"<m{next(_counter)}.{id(_counter)}@{domain}>"


def customer_mail(*, to: str, sender: str = "casey@customer.example",
                  name: str = "Casey Customer", subject: str = "Printer broken",
                  body: str = "The printer on floor 2 jams.", message_id: str | None = None,
                  in_reply_to: str | None = None, references: list[str] | None = None,
                  cc: list[str] | None = None, headers: dict[str, str] | None = None,
                  html: str | None = None) -> EmailMessage:
    """Return a person's message; `message_id` defaults to a new unique one."""
    mail = EmailMessage()
    mail["From"] = f"{name} <{sender}>"
    mail["To"] = to
    if cc:
        mail["Cc"] = ", ".join(cc)
    mail["Subject"] = subject
    mail["Message-ID"] = message_id or new_message_id()
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
    if references:
        mail["References"] = " ".join(references)
    for key, value in (headers or {}).items():
        mail[key] = value
    mail.set_content(body)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    return mail


def delivery_report(*, to: str, failed: str, original_message_id: str,
                    status: str = "5.1.1") -> bytes:
    """Return an RFC 3464 delivery status notification for `failed`."""
    text = (
        "From: Mail Delivery System <mailer-daemon@relay.example>\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {new_message_id('relay.example')}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
        "\r\n--b1\r\nContent-Type: text/plain\r\n\r\n"
        f"Your message to {failed} could not be delivered.\r\n"
        "\r\n--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; relay.example\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} User unknown\r\n"
        "\r\n--b1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {original_message_id}\r\nTo: {failed}\r\n"
        "\r\n--b1--\r\n")
    return text.encode()


def out_of_office(*, to: str, sender: str, in_reply_to: str) -> EmailMessage:
    return customer_mail(to=to, sender=sender, subject="Out of office: back on Monday",
                         body="I am out of the office until Monday.", in_reply_to=in_reply_to,
                         references=[in_reply_to],
                         headers={"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"})
