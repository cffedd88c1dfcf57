"""The emulated Eloqua site's credentials and limits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EloquaConfig:
    """Who may log in, and how the emulated site behaves under load."""

    company: str = "AbmsyncDemo"  # site name for Basic auth "Company\\User"
    username: str = "Sync.User"
    password: str = "sandbox-eloqua-password"
    client_id: str = "abmsync-sandbox-app"  # OAuth2 app
    client_secret: str = "sandbox-eloqua-secret"
    site_id: int = 1_234_567
    token_seconds: int = 28_800  # OAuth access token lifetime
    sync_polls: int = 0  # GET /syncs/{id} answers "active" this many times before done
    requests_per_second: int | None = None  # None = no rate limit; over it -> 429 with Retry-After
    max_concurrent_syncs: int | None = None  # more syncs pending/active at once -> 429
