"""The retry policy: which failures retry, how long they wait, when they give up."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from sitemail.outbox.policy import Kind, RetryPolicy, classify
from sitemail.smtp.errors import (
    AuthError,
    ConfigurationError,
    ConnectError,
    MailError,
    MailTimeoutError,
    ReplyCode,
    ReplyError,
    Step,
    TLSError,
)

FRESH = timedelta(seconds=5)


@pytest.fixture
def policy() -> RetryPolicy:
    return RetryPolicy(rng=random.Random(1))


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ReplyError(Step.RCPT, "try later", code=ReplyCode.LOCAL_ERROR), Kind.TRANSIENT),
        (ReplyError(Step.MAIL, "busy", code=ReplyCode.MAILBOX_BUSY), Kind.TRANSIENT),
        (ReplyError(Step.DATA, "bye", code=ReplyCode.SERVICE_UNAVAILABLE), Kind.TRANSIENT),
        (ConnectError(Step.CONNECT, "connection refused"), Kind.UNAVAILABLE),
        (MailTimeoutError(Step.CONNECT, "no greeting within 30 s"), Kind.UNAVAILABLE),
        (ReplyError(Step.CONNECT, "busy", code=ReplyCode.SERVICE_UNAVAILABLE), Kind.UNAVAILABLE),
        (ReplyError(Step.CONNECT, "go away", code=ReplyCode.TRANSACTION_FAILED), Kind.CONFIG),
        (ConnectError(Step.DATA, "the server closed the connection"), Kind.TRANSIENT),
        (MailTimeoutError(Step.DATA, "no answer within 30 s"), Kind.TRANSIENT),
        (TLSError(Step.TLS, "TLS handshake failed: connection reset"), Kind.TRANSIENT),
        (ReplyError(Step.RCPT, "no such user", code=ReplyCode.MAILBOX_UNAVAILABLE), Kind.PERMANENT),
        (ReplyError(Step.DATA, "spam", code=ReplyCode.TRANSACTION_FAILED), Kind.PERMANENT),
        (
            ReplyError(Step.MAIL, "sender refused", code=ReplyCode.MAILBOX_NAME_INVALID),
            Kind.PERMANENT,
        ),
        (AuthError(Step.AUTH, "bad credentials", code=ReplyCode.AUTH_FAILED), Kind.CONFIG),
        (AuthError(Step.AUTH, "the server does not offer AUTH PLAIN"), Kind.CONFIG),
        (ReplyError(Step.MAIL, "auth first", code=ReplyCode.AUTH_REQUIRED), Kind.CONFIG),
        (ConfigurationError(Step.CONFIG, "plaintext password"), Kind.CONFIG),
        (ReplyError(Step.EHLO, "bad HELO", code=ReplyCode.MAILBOX_UNAVAILABLE), Kind.CONFIG),
        (
            TLSError(Step.TLS, "certificate verify failed: self-signed", certificate=True),
            Kind.CONFIG,
        ),
        (MailError(Step.DATA, "something odd"), Kind.TRANSIENT),
    ],
)
def test_classify(error: MailError, kind: Kind) -> None:
    assert classify(error) is kind


def test_transient_backoff_grows_with_jitter_and_is_capped(policy: RetryPolicy) -> None:
    err = ReplyError(Step.RCPT, "later", code=ReplyCode.LOCAL_ERROR)
    delays = [policy.decide(err, n, FRESH).delay_seconds for n in range(1, 10)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(3600.0, 30.0 * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert delays[0] < delays[3] < delays[6]
    assert max(delays) <= 3600


def test_transient_gives_up_after_max_attempts(policy: RetryPolicy) -> None:
    err = ConnectError(Step.MAIL, "refused")
    assert policy.decide(err, 9, FRESH).retry
    decision = policy.decide(err, 10, FRESH)
    assert not decision.retry
    assert "gave up after 10 attempts" in decision.reason
    assert "refused" in decision.reason


def test_gives_up_when_too_old(policy: RetryPolicy) -> None:
    err = MailTimeoutError(Step.DATA, "no answer")
    decision = policy.decide(err, 2, timedelta(days=3))
    assert not decision.retry
    assert "gave up" in decision.reason


def test_permanent_fails_after_one_attempt(policy: RetryPolicy) -> None:
    decision = policy.decide(
        ReplyError(Step.RCPT, "5.1.1 no such user", code=ReplyCode.MAILBOX_UNAVAILABLE), 1, FRESH
    )
    assert not decision.retry
    assert decision.kind is Kind.PERMANENT
    assert "5.1.1 no such user" in decision.reason


def test_config_problems_retry_beyond_max_attempts_but_not_forever(policy: RetryPolicy) -> None:
    err = AuthError(Step.AUTH, "authentication failed", code=ReplyCode.AUTH_FAILED)
    decision = policy.decide(err, 50, timedelta(hours=2))
    assert decision.retry
    assert decision.kind is Kind.CONFIG
    assert decision.reason.startswith("configuration problem")
    assert "535 authentication failed" in decision.reason
    assert not policy.decide(err, 50, timedelta(days=3, seconds=1)).retry


def test_huge_attempt_counts_do_not_overflow(policy: RetryPolicy) -> None:
    assert policy.backoff(10_000) <= 3600


def test_an_unreachable_server_is_probed_soon_and_until_max_age(policy: RetryPolicy) -> None:
    err = ConnectError(Step.CONNECT, "connection refused")
    for attempts in (1, 10, 200):  # an outage of any length: never "gave up after N attempts"
        decision = policy.decide(err, attempts, timedelta(hours=20))
        assert decision.retry and decision.kind is Kind.UNAVAILABLE
        assert 0 < decision.delay_seconds <= policy.unavailable_max_delay
        assert decision.reason.startswith("server unavailable, retrying in")
    assert not policy.decide(err, 300, timedelta(days=3)).retry
