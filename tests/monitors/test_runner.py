"""Trigger runs over real mirrors: once-only notification, force pushes, results, recipients."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from sitemail.accounts.models import User
from sitemail.accounts.users import create_user
from sitemail.monitors import repos, runner, service
from sitemail.monitors.models import ActionRun, CodeMonitor, TriggerRun
from sitemail.orgs import service as orgs
from tests.monitors.conftest import GitRepo, deliver, subjects, text_of
from tests.smtpserver import TestSMTPServer

pytestmark = pytest.mark.django_db(transaction=True)


def _monitor(
    owner: User,
    query: str = "type:diff repo:. TODO",
    recipients: list[User] | None = None,
    **email: Any,
) -> CodeMonitor:
    action = service.ActionSpec(
        type="email", recipients=[u.pk for u in (recipients or [owner])], **email
    )
    spec = service.MonitorSpec(description="TODOs", query=query, actions=[action])
    return service.create(owner, owner.pk, spec)


def _run(monitor: CodeMonitor) -> TriggerRun:
    for repo in repos.Repository.objects.all():
        assert repos.fetch(repo)
    return runner.run_monitor(CodeMonitor.objects.get(pk=monitor.pk))


def test_new_commit_notifies_once_with_the_line_and_links(
    smtp: TestSMTPServer, alice: User, make_repo: Any
) -> None:
    src: GitRepo = make_repo("acme")
    src.commit("Old work", {"old.py": "# TODO: this predates the monitor\n"})
    repos.add(str(src.path))
    monitor = _monitor(alice, include_results=True)

    first = _run(monitor)
    assert (first.status, first.result_count) == ("SUCCESS", 0)
    assert deliver() == 0

    sha = src.commit("Parse input", {"app.py": "def main():\n    # TODO: handle errors\n"})
    run = _run(monitor)
    assert (run.result_count, run.commits_scanned) == (1, 1)
    assert deliver() == 1
    [received] = smtp.wait_for(1)
    assert received.rcpt_tos == ["alice@example.com"]
    assert subjects([received]) == ["Sourcegraph code monitor TODOs detected 1 new result"]
    text = text_of(received)
    assert "acme" in text and sha[:10] in text and "Alice Dev" in text
    assert "app.py: +    # TODO: handle errors" in text
    assert "https://sg.example.com/search?q=type%3Adiff%20repo%3A.%20TODO" in text
    assert f"https://sg.example.com/code-monitoring/{monitor.pk}" in text
    assert "predates" not in text

    again = _run(monitor)
    assert (again.result_count, again.commits_scanned) == (0, 0)
    assert deliver() == 0
    assert len(smtp.messages) == 1


def test_a_repository_seen_for_the_first_time_only_records_its_tips(
    smtp: TestSMTPServer, alice: User, make_repo: Any
) -> None:
    monitor = _monitor(alice)
    src: GitRepo = make_repo("late")
    src.commit("Add TODO", {"a.txt": "TODO\n"})
    repos.add(str(src.path))  # added after the monitor: its history is not "new"
    assert _run(monitor).result_count == 0
    src.commit("Another TODO", {"b.txt": "TODO too\n"})
    assert _run(monitor).result_count == 1


def test_force_push_and_deleted_branch_do_not_crash_or_renotify(
    smtp: TestSMTPServer, alice: User, make_repo: Any
) -> None:
    src: GitRepo = make_repo("acme")
    repos.add(str(src.path))
    monitor = _monitor(alice)
    _run(monitor)
    src.git("checkout", "-q", "-b", "feature")
    src.commit("Feature TODO", {"f.txt": "TODO feature\n"})
    src.git("checkout", "-q", "main")
    src.commit("Main TODO 1", {"m1.txt": "TODO one\n"})
    src.commit("Main TODO 2", {"m2.txt": "TODO two\n"})
    run = _run(monitor)
    assert sorted(r["subject"] for r in run.results) == [
        "Feature TODO",
        "Main TODO 1",
        "Main TODO 2",
    ]

    # Rewrite main (drop its last commit, add another) and delete the feature branch.
    src.git("reset", "-q", "--hard", "HEAD~1")
    src.commit("Rewritten TODO", {"r.txt": "TODO rewritten\n"})
    src.git("branch", "-q", "-D", "feature")
    run = _run(monitor)
    assert run.status == "SUCCESS"
    assert [r["subject"] for r in run.results] == ["Rewritten TODO"]
    assert _run(monitor).result_count == 0

    assert deliver() == 2
    assert sorted(subjects(smtp.wait_for(2))) == [
        "Sourcegraph code monitor TODOs detected 1 new result",
        "Sourcegraph code monitor TODOs detected 3 new results",
    ]


def test_include_results_shows_five_and_the_rest_as_more_and_critical_subject(
    smtp: TestSMTPServer, alice: User, make_repo: Any
) -> None:
    src: GitRepo = make_repo("acme")
    repos.add(str(src.path))
    monitor = _monitor(alice, include_results=True, priority="CRITICAL", header="Look at these")
    _run(monitor)
    for i in range(7):
        src.commit(f"Change {i}", {f"f{i}.txt": f"TODO number {i}\n"})
    assert _run(monitor).result_count == 7
    deliver()
    [received] = smtp.wait_for(1)
    assert subjects([received]) == [
        "[Critical] Sourcegraph code monitor TODOs detected 7 new results"
    ]
    text = text_of(received)
    assert text.count("+TODO number") == 5
    assert "+TODO number 6" in text and "+TODO number 2" in text and "+TODO number 1" not in text
    assert "...and 2 more" in text and "Look at these" in text


def test_without_include_results_no_lines_are_sent(
    smtp: TestSMTPServer, alice: User, make_repo: Any
) -> None:
    src: GitRepo = make_repo("acme")
    repos.add(str(src.path))
    monitor = _monitor(alice)
    _run(monitor)
    src.commit("Secret TODO", {"s.txt": "TODO internal detail\n"})
    _run(monitor)
    deliver()
    assert "internal detail" not in text_of(smtp.wait_for(1)[0])


def test_unverified_recipients_are_skipped_and_logged(
    smtp: TestSMTPServer, alice: User, make_repo: Any
) -> None:
    bob = create_user("bob", "bob@example.com", verified=False)
    team = orgs.create(alice, "team")
    orgs.add_member(team, bob)  # recipients: the owner or members of the owner's orgs
    src: GitRepo = make_repo("acme")
    repos.add(str(src.path))
    monitor = _monitor(alice, recipients=[alice, bob])
    _run(monitor)
    src.commit("TODO", {"t.txt": "TODO\n"})
    run = _run(monitor)
    assert deliver() == 1
    assert [m.rcpt_tos for m in smtp.wait_for(1)] == [["alice@example.com"]]
    [log] = ActionRun.objects.filter(trigger_run=run)
    assert log.status == "SUCCESS"
    assert "enqueued email to alice" in log.message
    assert "skipped bob: no verified primary email address" in log.message


def test_run_due_honours_interval_and_enabled(
    smtp: TestSMTPServer, alice: User, make_repo: Any
) -> None:
    src: GitRepo = make_repo("acme")
    repos.add(str(src.path))
    on = _monitor(alice)
    off = _monitor(alice)
    service.toggle(alice, off.pk, False)
    now = timezone.now()
    assert runner.run_due(now) == 1
    assert runner.run_due(now + timedelta(seconds=1)) == 0  # interval: 60 s by default
    assert runner.run_due(now + timedelta(seconds=61)) == 1
    assert TriggerRun.objects.filter(monitor=on).count() == 2
    assert not TriggerRun.objects.filter(monitor=off).exists()


def test_a_broken_mirror_is_an_error_in_the_log_not_a_crash(
    smtp: TestSMTPServer, alice: User, make_repo: Any
) -> None:
    src: GitRepo = make_repo("acme")
    repo = repos.add(str(src.path))
    monitor = _monitor(alice)
    repos.Repository.objects.filter(pk=repo.pk).update(mirror_path="/nonexistent/mirror.git")
    run = runner.run_monitor(monitor)
    assert run.status == "ERROR" and "acme: git" in run.message


def test_a_seen_tip_removed_by_gc_is_dropped_not_fatal(
    smtp: TestSMTPServer, alice: User, make_repo: Any
) -> None:
    src: GitRepo = make_repo("acme")
    repos.add(str(src.path))
    monitor = _monitor(alice)
    src.git("checkout", "-q", "-b", "feature")
    src.commit("Feature TODO", {"f.txt": "TODO feature\n"})
    src.git("checkout", "-q", "main")
    assert _run(monitor).result_count == 1  # the feature tip is now remembered
    src.git("branch", "-q", "-D", "feature")
    src.commit("Main TODO", {"m.txt": "TODO main\n"})
    repo = repos.Repository.objects.get()
    assert repos.fetch(repo)
    mirror = GitRepo(Path(repo.mirror_path))
    mirror.git("reflog", "expire", "--expire=now", "--all")
    mirror.git("gc", "-q", "--prune=now")
    run = runner.run_monitor(CodeMonitor.objects.get(pk=monitor.pk))
    assert run.status == "SUCCESS"
    assert [r["subject"] for r in run.results] == ["Main TODO"]
