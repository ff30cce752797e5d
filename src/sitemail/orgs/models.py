"""Organizations, memberships, organization invitations and instance invitations."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower

from sitemail.accounts.models import User


class Organization(models.Model):
    name = models.CharField(max_length=255)
    display_name = models.CharField(max_length=255, default="", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "orgs"
        constraints = [models.UniqueConstraint(Lower("name"), name="org_name_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def display(self) -> str:
        return self.display_name or self.name


class OrganizationMember(models.Model):
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="org_memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "org_members"
        constraints = [models.UniqueConstraint("org", "user", name="org_member_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.org_id}"


class OrganizationInvitation(models.Model):
    """An invitation to a user (by account) or to an address; pending until responded/revoked."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    sender = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    recipient = models.ForeignKey(
        User, on_delete=models.CASCADE, null=True, blank=True, related_name="org_invitations"
    )
    recipient_email = models.CharField(max_length=320, default="", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    response = models.CharField(max_length=10, default="", blank=True)  # ACCEPT or REJECT
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "org_invitations"
        indexes = [models.Index(fields=["org", "recipient_email"])]

    def __str__(self) -> str:
        return f"invitation {self.pk} to {self.org_id}"


class InstanceInvitation(models.Model):
    """The last time an address was invited to the instance (at most once per 24 hours)."""

    email = models.CharField(max_length=320, unique=True)  # normalized, lower-cased
    sender = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    last_sent_at = models.DateTimeField()

    class Meta:
        db_table = "instance_invitations"

    def __str__(self) -> str:
        return self.email
