"""Bounce test helpers: drain the outbox through the real worker, bounce reports in the
formats MTAs write (Postfix, Exchange, Exim, ARF), and handing one to the listener over SMTP."""

from __future__ import annotations

import asyncio
from typing import Any

from sitemail.outbox.worker import Worker

BOUNCE_DOMAIN = "bounces.example.com"


def drain() -> int:
    """Deliver everything queued (the worker until the queue is empty); how many went."""

    async def go() -> int:
        total = 0
        async with Worker(concurrency=2, batch_size=200) as worker:
            while n := await worker.run_until_idle():
                total += n
        return total

    return asyncio.run(go())


def postfix_dsn(
    verp: str,
    recipient: str,
    *,
    status: str = "5.1.1",
    text: str = "550 5.1.1 <{r}>: Recipient address rejected: User unknown in virtual "
    "mailbox table",
    message_id: str = "",
    report_id: str = "<20261202041500.1A2B3C@mx.example.net>",
    action: str = "failed",
) -> bytes:
    """A Postfix bounce(8) notice: multipart/report with a delivery-status part and the
    original's headers (text/rfc822-headers), as `notify_classes = bounce` sends it."""
    diag = text.format(r=recipient)
    return f"""Return-Path: <>
Received: by mx.example.net (Postfix) id 1A2B3C; Wed,  2 Dec 2026 04:15:00 +0000 (UTC)
Date: Wed,  2 Dec 2026 04:15:00 +0000 (UTC)
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {verp}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="1A2B3C.1764648900/mx.example.net"
Message-Id: {report_id}

This is a MIME-encapsulated message.

--1A2B3C.1764648900/mx.example.net
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<{recipient}>: host mail.example.org[192.0.2.7] said: {diag} (in reply to RCPT TO command)

--1A2B3C.1764648900/mx.example.net
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
X-Postfix-Queue-ID: 1A2B3C
X-Postfix-Sender: rfc822; {verp}
Arrival-Date: Wed,  2 Dec 2026 04:14:58 +0000 (UTC)

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; mail.example.org
Diagnostic-Code: smtp; {diag}

--1A2B3C.1764648900/mx.example.net
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: Sourcegraph <noreply@example.com>
To: {recipient}
Message-ID: {message_id}
Subject: Sourcegraph code monitor

--1A2B3C.1764648900/mx.example.net--
""".replace("\n", "\r\n").encode()


def exim_bounce(verp: str, recipient: str) -> bytes:
    """Exim's plain-text bounce (no delivery-status part by default): flufl.bounce's Exim
    detector reads it."""
    return f"""Return-path: <>
From: Mail Delivery System <Mailer-Daemon@mx.example.net>
To: {verp}
Subject: Mail delivery failed: returning message to sender
Message-Id: <E1vQxyz-0001ab-CD@mx.example.net>
X-Failed-Recipients: {recipient}
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {recipient}
    host mail.example.org [192.0.2.7]
    SMTP error from remote mail server after RCPT TO:<{recipient}>:
    550 5.1.1 No such user

------ This is a copy of the message, including all the headers. ------

From: Sourcegraph <noreply@example.com>
To: {recipient}
Subject: hello
""".replace("\n", "\r\n").encode()


def exchange_dsn(verp: str, recipient: str, *, status: str = "5.2.2") -> bytes:
    """Exchange's NDR: multipart/report with message/delivery-status (mailbox full here)."""
    return f"""From: postmaster@outlook.example
To: {verp}
Subject: Undeliverable: Sourcegraph code monitor
Content-Type: multipart/report; report-type=delivery-status;
 boundary="_000_NDR_"
MIME-Version: 1.0
Message-ID: <ndr-{recipient.split("@")[0]}-{status}@outlook.example>

--_000_NDR_
Content-Type: text/plain; charset="us-ascii"

Delivery has failed to these recipients or groups:
{recipient}
The recipient's mailbox is full and can't accept messages now.

--_000_NDR_
Content-Type: message/delivery-status

Reporting-MTA: dns;EX01.outlook.example
Received-From-MTA: dns;relay.example.com
Arrival-Date: Wed, 2 Dec 2026 04:15:00 +0000

Final-Recipient: rfc822;{recipient}
Action: failed
Status: {status}
Diagnostic-Code: smtp;552 {status} STOREDRV.Deliver; mailbox full

--_000_NDR_--
""".replace("\n", "\r\n").encode()


def arf_report(to: str, recipient: str, message_id: str) -> bytes:
    """An RFC 5965 abuse report as a mailbox provider's feedback loop sends it."""
    return f"""From: feedback@isp.example
To: {to}
Subject: Abuse report
MIME-Version: 1.0
Message-ID: <fbl-{recipient.split("@")[0]}@isp.example>
Content-Type: multipart/report; report-type=feedback-report; boundary="ARF"

--ARF
Content-Type: text/plain

This is an email abuse report for an email message received from IP 192.0.2.1.

--ARF
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: ISP-FBL/1.0
Version: 1
Original-Mail-From: <noreply@example.com>
Original-Rcpt-To: <{recipient}>
Arrival-Date: Wed, 2 Dec 2026 04:15:00 +0000

--ARF
Content-Type: message/rfc822

From: Sourcegraph <noreply@example.com>
To: {recipient}
Message-ID: {message_id}
Subject: hello

hi
--ARF--
""".replace("\n", "\r\n").encode()


def send_report(port: int, rcpt: str, data: bytes, mail_from: str = "") -> Any:
    """Hand `data` to the listener over SMTP like a remote MTA (null sender)."""
    import smtplib

    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("mx.example.net")
        return client.sendmail(mail_from, [rcpt], data)
