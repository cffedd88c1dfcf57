"""The API versions an emulated org serves, and what each version changes.

``GET /services/data/`` lists every version the org answers (oldest first), as
the REST API Developer Guide's Versions resource does:
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_versions.htm
A request under any other ``/services/data/vXX.X/`` answers 404 ``NOT_FOUND``.
Versions 7.0 to 20.0 are retired (Summer '22; the guide's "API End-of-Life"
page), so the oldest one a current org still serves is 21.0.
"""

from __future__ import annotations

import re

OLDEST_VERSION = 21
_VERSION = re.compile(r"v(\d{2,3})\.0")
# Salesforce ships three releases a year; v60.0 was Spring '24.
_SEASONS = ("Spring", "Summer", "Winter")

# Upsert by external id answers 200 with a body (``created: false``) for an
# update from 46.0 on, 204 without a body before; ``created`` is absent before
# 46.0 too. https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_upsert.htm
UPSERT_BODY_SINCE = 46


def release_label(major: int) -> str:
    """The release name of API version ``major`` (62 -> ``Winter '25``)."""
    offset = major - 60
    season = _SEASONS[offset % 3]
    year = 24 + offset // 3 + (1 if season == "Winter" else 0)
    return f"{season} '{year % 100:02d}"


def version_list(latest: str) -> list[dict[str, str]]:
    """The Versions resource: ``[{"label", "url", "version"}]`` up to ``latest``."""
    newest = int(float(latest))
    return [
        {"label": release_label(n), "url": f"/services/data/v{n}.0", "version": f"{n}.0"}
        for n in range(OLDEST_VERSION, newest + 1)
    ]


def parse_version(segment: str, latest: str) -> str | None:
    """``"62.0"`` for a served ``v62.0`` path segment, None for anything else."""
    match = _VERSION.fullmatch(segment)
    if match is None:
        return None
    major = int(match[1])
    if not OLDEST_VERSION <= major <= int(float(latest)):
        return None
    return f"{major}.0"


def major(version: str) -> int:
    """The major number of ``"62.0"``."""
    return int(float(version))


def resources(version: str) -> dict[str, str]:
    """Resources by Version: each resource this org serves and its URL.

    https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_discoveryresource.htm
    """
    base = f"/services/data/v{version}"
    names = ["composite", "jobs", "limits", "query", "queryAll", "sobjects", "tooling"]
    return {name: f"{base}/{name}" for name in names}
