"""The database itself enforces the email rules, whatever code path writes the rows."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from sitemail.accounts.models import UserEmail
from tests.accounts.conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_email_rules_hold_in_the_database() -> None:
    ann, bea = make_user("ann"), make_user("bea")
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():  # unique per user, any case
        UserEmail.objects.create(user=ann, email="ANN@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():  # a verified address: one owner
        UserEmail.objects.create(user=bea, email="Ann@Example.com", verified_at=now)
    with pytest.raises(IntegrityError), transaction.atomic():  # at most one primary
        UserEmail.objects.create(user=ann, email="a2@example.com", verified_at=now, is_primary=True)
    with pytest.raises(IntegrityError), transaction.atomic():  # the primary is verified
        UserEmail.objects.create(user=bea, email="b2@example.com", is_primary=True)
    # An unverified copy of another user's address is allowed (it cannot be verified).
    UserEmail.objects.create(user=bea, email="ann@example.com")
    assert UserEmail.objects.filter(email__iexact="ann@example.com").count() == 2
