"""The Celery peer: one task per email, each a Django `send_mail` (EmailMultiAlternatives.send()).

`celery -A bench.peer_celery worker` runs it (DJANGO_SETTINGS_MODULE=bench.peer_settings,
BENCH_PEER=celery). Settings are Celery's production advice: the prefork pool with one process
per core (its default), results ignored (the Tasks guide: "If you don't care about the results
of a task, be sure to set the ignore_result option, as storing results wastes time and
resources"), early acknowledgement and a prefetch multiplier of 4 (the defaults; the
Optimizing guide keeps it above 1 for many short tasks). After each send the task counts
itself in Redis, so the benchmark knows when the last one finished.
"""

from __future__ import annotations

import os
import time
from typing import Any

import django
import redis
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.peer_settings")
os.environ.setdefault("BENCH_PEER", "celery")
django.setup()

BROKER = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
KEY = os.environ.get("BENCH_CELERY_KEY", "bench-celery")

app = Celery("bench", broker=BROKER)
app.conf.update(
    task_ignore_result=True,
    task_acks_late=False,
    worker_prefetch_multiplier=4,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
_redis = redis.Redis.from_url(BROKER)


@app.task(name="bench.send_email")  # type: ignore[untyped-decorator]
def send_email(subject: str, text: str, html: str, sender: str, to: str) -> None:
    from django.core.mail import EmailMultiAlternatives

    msg = EmailMultiAlternatives(subject, text, sender, [to])
    msg.attach_alternative(html, "text/html")
    msg.send()
    pipe = _redis.pipeline()
    pipe.incr(f"{KEY}:done")
    pipe.set(f"{KEY}:last", repr(time.time()))
    pipe.execute()


def parts_args(parts: dict[str, Any], to: str) -> tuple[str, str, str, str, str]:
    return (parts["subject"], parts["text"], parts["html"], parts["from"], to)
