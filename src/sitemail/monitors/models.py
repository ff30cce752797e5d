"""Repositories, monitors, their per-repository ref tips, trigger runs, actions and deliveries."""

from __future__ import annotations

from django.db import models

from sitemail.accounts.models import User


class Repository(models.Model):
    """A git repository mirrored (bare) under the data dir and fetched on a schedule."""

    name = models.CharField(max_length=255, unique=True)
    url = models.CharField(max_length=2048)
    mirror_path = models.CharField(max_length=1024)
    created_at = models.DateTimeField(auto_now_add=True)
    next_fetch_at = models.DateTimeField()
    last_fetched_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(default="", blank=True)

    class Meta:
        db_table = "monitor_repositories"
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class CodeMonitor(models.Model):
    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="code_monitors")
    description = models.CharField(max_length=1000)
    enabled = models.BooleanField(default=True)
    query = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Claimed with a conditional UPDATE, so one process runs a monitor at a time.
    next_run_at = models.DateTimeField()

    class Meta:
        db_table = "code_monitors"
        ordering = ("id",)

    def __str__(self) -> str:
        return self.description


class RepoState(models.Model):
    """The ref tips a monitor has already looked at in one repository."""

    monitor = models.ForeignKey(CodeMonitor, on_delete=models.CASCADE, related_name="repo_states")
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="+")
    tips = models.JSONField(default=dict)  # refname -> commit sha
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "code_monitor_repo_states"
        constraints = [
            models.UniqueConstraint("monitor", "repository", name="monitor_repo_state_unique")
        ]


class TriggerRun(models.Model):
    class Status(models.TextChoices):
        SUCCESS = "SUCCESS"
        ERROR = "ERROR"

    monitor = models.ForeignKey(CodeMonitor, on_delete=models.CASCADE, related_name="trigger_runs")
    query = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices)
    message = models.TextField(default="", blank=True)
    commits_scanned = models.IntegerField(default=0)
    result_count = models.IntegerField(default=0)
    results = models.JSONField(default=list)  # the first results, as shown in notifications
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    class Meta:
        db_table = "code_monitor_trigger_runs"
        ordering = ("-id",)


class Action(models.Model):
    class Type(models.TextChoices):
        EMAIL = "email"
        WEBHOOK = "webhook"
        SLACK = "slackWebhook"

    class Priority(models.TextChoices):
        NORMAL = "NORMAL"
        CRITICAL = "CRITICAL"

    monitor = models.ForeignKey(CodeMonitor, on_delete=models.CASCADE, related_name="actions")
    type = models.CharField(max_length=16, choices=Type.choices)
    enabled = models.BooleanField(default=True)
    include_results = models.BooleanField(default=False)
    priority = models.CharField(max_length=16, choices=Priority.choices, default="NORMAL")
    header = models.TextField(default="", blank=True)
    recipients = models.ManyToManyField(User, related_name="+", blank=True)
    url = models.CharField(max_length=2048, default="", blank=True)

    class Meta:
        db_table = "code_monitor_actions"
        ordering = ("id",)


class ActionRun(models.Model):
    class Status(models.TextChoices):
        SUCCESS = "SUCCESS"
        PENDING = "PENDING"
        ERROR = "ERROR"

    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="runs")
    trigger_run = models.ForeignKey(
        TriggerRun, on_delete=models.CASCADE, related_name="action_runs", null=True
    )
    status = models.CharField(max_length=16, choices=Status.choices)
    message = models.TextField(default="", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "code_monitor_action_runs"
        ordering = ("-id",)


class WebhookDelivery(models.Model):
    """One JSON POST, retried with backoff until it succeeds or runs out of attempts."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        SENT = "sent"
        FAILED = "failed"

    action_run = models.ForeignKey(ActionRun, on_delete=models.CASCADE, related_name="deliveries")
    url = models.CharField(max_length=2048)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default="queued")
    attempts = models.IntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(default="", blank=True)

    class Meta:
        db_table = "code_monitor_webhook_deliveries"
        indexes = [models.Index("status", "next_attempt_at", name="webhook_due")]
