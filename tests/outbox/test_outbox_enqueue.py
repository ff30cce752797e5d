"""enqueue: rendered now, inserted in the caller's transaction, skipped when email is disabled."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime

import pytest
from django.db import IntegrityError, transaction

from sitemail.mail.build import MailBuildError
from sitemail.outbox import enqueue, enqueue_many
from sitemail.outbox.models import OutboxMessage, Status
from sitemail.outbox.service import DISABLED, LINK_REMOVED, VALUE_REMOVED
from tests.outbox.conftest import static_settings

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    pass


def test_row_commits_with_the_callers_transaction() -> None:
    with transaction.atomic():
        row = enqueue(
            "test_email", "a@example.com", {"test_id": "abcde"}, settings=static_settings()
        )
        assert OutboxMessage.objects.filter(pk=row.pk).exists()
    row = OutboxMessage.objects.get(pk=row.pk)
    assert row.status == Status.QUEUED
    assert row.kind == "test_email"
    assert row.recipient == "a@example.com"
    assert row.rcpt_tos == ["a@example.com"]
    assert row.mail_from == "noreply@example.com"
    assert row.subject == "TEST: email sent from Sourcegraph (test ID: abcde)"
    assert row.context == {"test_id": "abcde"}
    assert row.redacted_data is None
    data = bytes(row.data)
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg["Message-ID"] == row.message_id
    assert msg["Subject"] == row.subject


def test_row_rolls_back_with_the_callers_transaction() -> None:
    with pytest.raises(Boom), transaction.atomic():
        enqueue("test_email", "a@example.com", {"test_id": "abcde"}, settings=static_settings())
        raise Boom
    assert not OutboxMessage.objects.exists()


def test_savepoint_rollback_discards_only_the_inner_row() -> None:
    with transaction.atomic():
        enqueue("test_email", "outer@example.com", {"test_id": "1"}, settings=static_settings())
        with pytest.raises(Boom), transaction.atomic():
            enqueue("test_email", "inner@example.com", {"test_id": "2"}, settings=static_settings())
            raise Boom
    assert list(OutboxMessage.objects.values_list("recipient", flat=True)) == ["outer@example.com"]


def test_skipped_when_email_is_disabled() -> None:
    row = enqueue("test_email", "a@example.com", {"test_id": "x"}, settings=static_settings(None))
    row.refresh_from_db()
    assert row.status == Status.SKIPPED
    assert row.last_error == DISABLED
    assert row.last_error == ("email is disabled: email.smtp is not set in the site configuration")


def test_skipped_even_without_a_from_address() -> None:
    settings = static_settings(None)
    settings = type(settings)(
        version=1,
        external_url=settings.external_url,
        email=type(settings.email)(address=None, sender_name="S", smtp=None),
    )
    row = enqueue("test_email", "a@example.com", {"test_id": "x"}, settings=settings)
    assert row.status == Status.SKIPPED
    assert row.subject.startswith("TEST:")


def test_missing_from_address_raises_when_enabled() -> None:
    settings = static_settings()
    settings = type(settings)(
        version=1,
        external_url=settings.external_url,
        email=type(settings.email)(address=None, sender_name="S", smtp=settings.email.smtp),
    )
    with pytest.raises(MailBuildError, match=r"^email\.address is not set"):
        enqueue("test_email", "a@example.com", {"test_id": "x"}, settings=settings)
    assert not OutboxMessage.objects.exists()


def test_invalid_recipient_raises() -> None:
    with pytest.raises(MailBuildError) as exc:
        enqueue("test_email", "not an address", {"test_id": "x"}, settings=static_settings())
    assert exc.value.field == "to"


def test_context_must_be_json_safe() -> None:
    with pytest.raises(TypeError, match="JSON-safe"):
        enqueue(
            "test_email", "a@example.com", {"test_id": datetime.now()}, settings=static_settings()
        )


def test_secrets_are_kept_apart() -> None:
    url = "https://sourcegraph.example.com/password-reset?code=s3cr3t"
    row = enqueue(
        "django",
        "a@example.com",
        {"subject": "Reset", "body": url},
        settings=static_settings(),
        secrets=("body",),
    )
    row.refresh_from_db()
    assert b"s3cr3t" in bytes(row.data)
    assert row.redacted_data is not None
    redacted = bytes(row.redacted_data)
    assert b"s3cr3t" not in redacted
    assert LINK_REMOVED.encode() in redacted
    assert row.context == {"subject": "Reset", "body": LINK_REMOVED}
    # The same message: Message-ID and Date identical.
    a = email.message_from_bytes(bytes(row.data), policy=email.policy.default)
    b = email.message_from_bytes(redacted, policy=email.policy.default)
    assert a["Message-ID"] == b["Message-ID"] == row.message_id
    assert a["Date"] == b["Date"]


def test_skipped_rows_never_store_secrets() -> None:
    row = enqueue(
        "django",
        "a@example.com",
        {"subject": "Code", "body": "123456"},
        settings=static_settings(None),
        secrets=("body",),
    )
    row.refresh_from_db()
    assert b"123456" not in bytes(row.data)
    assert VALUE_REMOVED.encode() in bytes(row.data)


def test_enqueue_many() -> None:
    rows = enqueue_many(
        "test_email",
        [(f"user{i}@example.com", {"test_id": f"{i:05d}"}) for i in range(50)],
        settings=static_settings(),
    )
    assert len(rows) == 50
    assert OutboxMessage.objects.filter(status=Status.QUEUED).count() == 50
    assert len({r.message_id for r in OutboxMessage.objects.all()}) == 50


def test_enqueue_many_rolls_back_too() -> None:
    with pytest.raises(Boom), transaction.atomic():
        enqueue_many(
            "test_email", [("a@example.com", {"test_id": "1"})], settings=static_settings()
        )
        raise Boom
    assert not OutboxMessage.objects.exists()


def test_enqueue_many_rows_match_the_database_in_small_batches() -> None:
    messages = [(f"u{i}@example.com", {"test_id": f"{i:05d}"}) for i in range(23)]
    rows = enqueue_many("test_email", messages, settings=static_settings(), batch_size=5)
    stored = {r.pk: r for r in OutboxMessage.objects.all()}
    assert len(stored) == 23
    for row, (to, ctx) in zip(rows, messages, strict=True):
        assert row.pk is not None and not row._state.adding
        db = stored[row.pk]
        assert (db.recipient, db.message_id, db.context) == (to, row.message_id, ctx)
        assert bytes(db.data) == row.data
        assert db.created_at is not None and db.next_attempt_at == row.next_attempt_at
        msg = email.message_from_bytes(bytes(db.data), policy=email.policy.default)
        assert msg["Message-ID"] == row.message_id
        assert [str(a.addr_spec) for a in msg["To"].addresses] == [to]


def test_enqueue_many_ids_follow_the_sequence_and_errors_are_djangos() -> None:
    """PostgreSQL takes ids from the sequence before its COPY: single inserts after it must not
    collide, and a database error must surface as django.db's, not the driver's."""
    settings = static_settings()
    rows = enqueue_many("test_email", [("a@example.com", {"test_id": "1"})] * 3, settings=settings)
    single = enqueue("test_email", "b@example.com", {"test_id": "2"}, settings=settings)
    assert single.pk > max(r.pk for r in rows)
    from sitemail.outbox.insert import insert_many
    from sitemail.outbox.service import prepare

    clash = prepare("test_email", "c@example.com", {"test_id": "3"}, settings=settings)
    clash.message_id = single.message_id  # unique
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_many([clash])
    assert OutboxMessage.objects.count() == 4


def test_enqueue_many_bad_address_inserts_nothing() -> None:
    messages = [("a@example.com", {"test_id": "1"}), ("not an address", {"test_id": "2"})]
    with pytest.raises(MailBuildError):
        enqueue_many("test_email", messages, settings=static_settings())
    assert not OutboxMessage.objects.exists()


def test_enqueue_many_keeps_secrets_apart_and_skips_when_disabled() -> None:
    url = "https://sourcegraph.example.com/p?code=s3cr3t"
    [sent] = enqueue_many(
        "set_password",
        [("a@example.com", {"username": "a", "url": url})],
        settings=static_settings(),
    )
    [skipped] = enqueue_many(
        "set_password",
        [("b@example.com", {"username": "b", "url": url})],
        settings=static_settings(None),
    )
    sent.refresh_from_db()
    skipped.refresh_from_db()
    assert b"s3cr3t" in bytes(sent.data) and b"s3cr3t" not in bytes(sent.redacted_data or b"")
    assert skipped.status == Status.SKIPPED and b"s3cr3t" not in bytes(skipped.data)
    assert sent.context["url"] == LINK_REMOVED


def test_new_row_is_what_the_model_builds() -> None:
    from django.db.models.signals import post_init
    from django.utils import timezone

    from sitemail.outbox.insert import new_row

    values = {"kind": "k", "recipient": "a@example.com", "next_attempt_at": timezone.now()}
    fast, model = new_row(**values), OutboxMessage(**values)
    assert {k: v for k, v in fast.__dict__.items() if k != "_state"} == {
        k: v for k, v in model.__dict__.items() if k != "_state"
    }
    assert fast._state.adding and fast._state.db is None
    assert fast.rcpt_tos == [] and fast.rcpt_tos is not new_row(**values).rcpt_tos
    seen: list[object] = []

    def receiver(sender: type, instance: object, **kwargs: object) -> None:
        seen.append(instance)

    post_init.connect(receiver, sender=OutboxMessage)
    try:
        row = new_row(**values)  # with a receiver connected: Model.__init__, which sends it
        assert seen == [row]
    finally:
        post_init.disconnect(receiver, sender=OutboxMessage)


def test_insert_values_are_what_the_fields_would_save() -> None:
    """insert_many calls the backend's adapters directly for JSON, dates and bytes."""
    from django.db import connections

    from sitemail.outbox.insert import _plan, _values
    from sitemail.outbox.service import prepare

    connection = connections["default"]
    row = prepare("set_password", "a@example.com", {"username": "a", "url": "https://x/?c=s"},
                  settings=static_settings())  # fmt: skip
    got = _values(connection)(row)  # its pre_save sets created_at first
    want = [f.get_db_prep_save(getattr(row, f.attname), connection) for f in _plan().fields]

    def plain(value: object) -> object:  # psycopg's Jsonb and Binary wrap the value
        value = getattr(value, "obj", value)
        return bytes(value) if isinstance(value, memoryview) else value

    assert [plain(v) for v in got] == [plain(v) for v in want]
    assert type(got[[f.attname for f in _plan().fields].index("context")]) is type(
        want[[f.attname for f in _plan().fields].index("context")]
    )
