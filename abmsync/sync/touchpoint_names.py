"""Names and descriptions a salesperson can read on touchpoint records.

A CRM touchpoint record is titled by what happened and to what, never by an
id: ``Form: Contact sales``, ``Web: /pricing (Pricing)``, ``Campaign: Q4
Webinar``, ``Meeting: Discovery call``. The subject is the first the data
holds of the asset's name (Eloqua's form, email or landing page), the
activity's subject, the campaign's name, and the URL (a form's URL as words:
``/contact-sales`` reads ``Contact sales``; a page keeps its path and adds
its title when known). The description lists what is known in full, one
``Label: value`` per line (URL, page, asset, campaign, subject).
"""

from __future__ import annotations

import polars as pl

# touchpoint type -> what the title starts with; other types are titled from the type.
TYPE_LABELS = {
    "form_submit": "Form",
    "page_view": "Web",
    "web_visit": "Web",
    "email_open": "Email opened",
    "email_click": "Email click",
    "email_send": "Email sent",
    "email_bounce": "Email bounced",
    "webinar": "Webinar",
    "event": "Event",
    "download": "Download",
    "campaign_response": "Campaign",
    "meeting": "Meeting",
    "call": "Call",
    "unsubscribe": "Unsubscribed",
    "subscribe": "Subscribed",
}
PAGE_TYPES = ("page_view", "web_visit")
# column -> label in the description, in the order shown
DESCRIBED = {
    "url": "URL",
    "page_title": "Page",
    "asset_name": "Asset",
    "campaign_name": "Campaign",
    "campaign": "Campaign",
    "subject": "Subject",
}


def _text(columns: list[str], name: str) -> pl.Expr:
    """A text column, empty text as null; null when the frame lacks it."""
    if name not in columns:
        return pl.lit(None, dtype=pl.String)
    value = pl.col(name).cast(pl.String).str.strip_chars()
    return pl.when(value.str.len_chars() > 0).then(value)


def _path(url: pl.Expr) -> pl.Expr:
    """The path of a URL (``https://x.com/pricing?a=1`` -> ``/pricing``); a path stays."""
    return url.str.replace(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*", "").str.replace(r"[?#].*$", "")


def _words(url: pl.Expr) -> pl.Expr:
    """The last segment of a URL's path as words: ``/contact-sales`` -> ``Contact sales``."""
    segment = _path(url).str.strip_chars_end("/").str.extract(r"([^/]+)$")
    words = segment.str.replace(r"\.[a-zA-Z0-9]+$", "").str.replace_all(r"[-_+]+", " ")
    return words.str.slice(0, 1).str.to_uppercase() + words.str.slice(1)


def touchpoint_title(columns: list[str]) -> pl.Expr:
    """``<Label>: <subject>`` for each touchpoint of a frame with ``columns``; see the module."""
    url, title = _text(columns, "url"), _text(columns, "page_title")
    campaign = pl.coalesce(_text(columns, "campaign_name"), _text(columns, "campaign"))
    named = pl.coalesce(_text(columns, "asset_name"), _text(columns, "subject"))
    page = pl.concat_str(
        [_path(url), pl.when(title.is_not_null()).then(pl.lit(" (") + title + pl.lit(")"))],
        ignore_nulls=True,
    )
    kind = pl.col("type").cast(pl.String)
    subject = (
        pl.when(kind.is_in(PAGE_TYPES) & url.is_not_null())
        .then(pl.coalesce(page, named))
        .when(kind == "campaign_response")
        .then(pl.coalesce(campaign, named))
        .otherwise(pl.coalesce(named, campaign, _words(url)))
    )
    label = kind.replace_strict(
        TYPE_LABELS,
        default=kind.str.replace_all("_", " ").str.to_titlecase(),
        return_dtype=pl.String,
    )
    return pl.concat_str(
        [label, pl.when(subject.is_not_null()).then(pl.lit(": ") + subject)], ignore_nulls=True
    )


def touchpoint_description(columns: list[str]) -> pl.Expr:
    """One ``Label: value`` line per known detail (URL, page, asset, campaign, subject)."""
    lines = []
    shown = [c for c in DESCRIBED if c in columns]
    if "campaign_name" in shown and "campaign" in shown:
        shown.remove("campaign")  # the name says it; the id adds nothing for sales
    for column in shown:
        value = _text(columns, column)
        lines.append(pl.when(value.is_not_null()).then(pl.lit(f"{DESCRIBED[column]}: ") + value))
    if not lines:
        return pl.lit(None, dtype=pl.String)
    joined = pl.concat_str(lines, separator="\n", ignore_nulls=True)
    return pl.when(joined.str.len_chars() > 0).then(joined)
