"""Settings of the workers and the scheduler: ``ABMSYNC_WORKERS__*`` variables.

The broker URL may carry a password, so it is a ``SecretStr``. Time limits
are in seconds. The visibility timeout must be longer than the longest task:
Redis hands a task that has not been acknowledged by then to another worker.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from abmsync.settings import SettingsError

ENV_PREFIX = "ABMSYNC_WORKERS__"


class WorkerSettings(BaseSettings):
    """Where the queue is and how long its deadlines are."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    broker_url: SecretStr = Field(
        default=SecretStr("redis://127.0.0.1:6379/0"),
        description="Redis URL of the task queue (and of the chord results)",
    )
    queue: str = Field(default="abmsync", description="the queue tasks go to")
    visibility_timeout: float = Field(
        default=4 * 3600.0,
        gt=0,
        description="seconds before an unacknowledged task goes to another worker; "
        "longer than the longest task",
    )
    lock_ttl: float = Field(
        default=600.0,
        gt=0,
        description="seconds a tenant's run lock lasts without renewal: longer than a run's "
        "tasks may wait in the queue; a run whose tasks were lost frees its tenant after this",
    )
    tick: float = Field(default=5.0, gt=0, description="seconds between the scheduler's looks")

    @model_validator(mode="after")
    def _renewal_fits(self) -> WorkerSettings:
        if self.lock_ttl < 1:
            raise ValueError("lock_ttl: at least 1 second, so that it can be renewed in time")
        return self

    @property
    def lock_time(self) -> timedelta:
        """The run lock's time to live."""
        return timedelta(seconds=self.lock_ttl)

    @property
    def heartbeat(self) -> float:
        """Seconds between renewals of a held run lock: three chances before it expires."""
        return self.lock_ttl / 3


def load_worker_settings() -> WorkerSettings:
    """The settings from the environment and ``.env``; ``SettingsError`` (one line) if wrong."""
    try:
        return WorkerSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "".join(str(part) for part in first["loc"][:1]).upper()
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{ENV_PREFIX}{name}: {message}") from None
