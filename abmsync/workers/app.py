"""The Celery application: Redis as broker and chord backend, at-least-once delivery.

``app`` is configured from :class:`~abmsync.workers.config.WorkerSettings` when
this module is imported (``abmsync worker`` and ``abmsync schedule`` read the
same environment, so they meet on the same queue).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from abmsync.workers.config import WorkerSettings, load_worker_settings


def celery_config(settings: WorkerSettings) -> dict[str, Any]:
    """Celery's settings for at-least-once delivery of idempotent tasks."""
    url = settings.broker_url.get_secret_value()
    transport = {
        "visibility_timeout": settings.visibility_timeout,
        # Look for tasks whose worker died every few seconds (a cheap sorted-set
        # query), so one comes back soon after its visibility timeout.
        "unacked_restore_interval": max(1, min(10, int(settings.visibility_timeout / 4))),
        "unacked_restore_throttle": 1,
    }
    return {
        "broker_url": url,
        "result_backend": url,
        "broker_transport_options": transport,
        "result_backend_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "task_default_queue": settings.queue,
        # Acknowledge after the task, and put it back when its worker process dies:
        # a task is lost only if it finished.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # Running tasks whose broker connection was lost are given up: Redis gives
        # them to a worker again, and they are safe to run twice.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # One task at a time per worker process: a prefetched task would wait
        # behind a long one while another worker sits idle.
        "worker_prefetch_multiplier": 1,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_expires": 24 * 3600,
        "worker_hijack_root_logger": False,
        "enable_utc": True,
    }


def create_app(settings: WorkerSettings) -> Celery:
    """A Celery app with abmsync's tasks, on the broker ``settings`` name."""
    app = Celery("abmsync", include=["abmsync.workers.tasks"])
    app.conf.update(celery_config(settings))
    return app


app = create_app(load_worker_settings())
