"""The sandbox data set: reproducible, shaped like the shared schema, dirty on purpose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

from abmsync.sandbox.commands import generate
from abmsync.sandbox.generate import (
    DATASET_COLUMNS,
    DEFAULT_AS_OF,
    Dataset,
    generate_dataset,
    read_dataset,
    write_dataset,
)
from abmsync.schema import (
    ACCOUNT_COLUMNS,
    OPPORTUNITY_COLUMNS,
    PEOPLE_COLUMNS,
    TOUCHPOINT_COLUMNS,
    TouchpointType,
)

PEOPLE = 5_000
SENIORITIES = ["C-Level", "VP", "Director", "Manager", "Individual Contributor", "Intern/Student"]


@pytest.fixture(scope="module")
def data() -> Dataset:
    return generate_dataset(PEOPLE)


def _assert_same(left: Dataset, right: Dataset) -> None:
    for name, frame in left.frames().items():
        assert_frame_equal(frame, right.frames()[name], check_exact=True)


def _normalized_email() -> pl.Expr:
    return pl.col("email").str.strip_chars().str.to_lowercase()


# --- reproducibility --------------------------------------------------------------------


def test_same_seed_gives_identical_frames(data: Dataset) -> None:
    again = generate_dataset(PEOPLE, seed=7, as_of=DEFAULT_AS_OF)
    _assert_same(data, again)
    assert again.touchpoints.write_csv() == data.touchpoints.write_csv()


def test_a_different_seed_gives_different_data(data: Dataset) -> None:
    other = generate_dataset(PEOPLE, seed=8)
    assert other.people["email"].to_list() != data.people["email"].to_list()
    assert other.touchpoints.height != data.touchpoints.height


def test_as_of_defaults_to_a_fixed_date_not_now(data: Dataset) -> None:
    assert datetime(2026, 11, 1, tzinfo=UTC) == DEFAULT_AS_OF
    latest = data.touchpoints["occurred_at"].max()
    assert isinstance(latest, datetime)
    assert DEFAULT_AS_OF - timedelta(days=7) < latest < DEFAULT_AS_OF


# --- shape --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "schema_columns", "extras"),
    [
        ("accounts", ACCOUNT_COLUMNS, {"website": pl.String()}),
        (
            "people",
            PEOPLE_COLUMNS,
            {
                "true_buying_role": pl.String(),
                "is_competitor": pl.Boolean,
                "crm_status": pl.String(),
                "rejection_reason": pl.String(),
            },
        ),
        ("touchpoints", TOUCHPOINT_COLUMNS, {}),
        ("opportunities", OPPORTUNITY_COLUMNS, {}),
    ],
)
def test_frames_have_exactly_the_schema_columns_and_dtypes_plus_documented_extras(
    data: Dataset,
    entity: str,
    schema_columns: dict[str, pl.DataType],
    extras: dict[str, pl.DataType],
) -> None:
    frame = data.frames()[entity]
    assert dict(frame.schema) == {**schema_columns, **extras}
    assert frame.columns == [*schema_columns, *extras]


def test_owners_are_about_twenty_reps_in_queues_with_one_or_two_unavailable(data: Dataset) -> None:
    owners = data.owners
    assert dict(owners.schema) == DATASET_COLUMNS["owners"]
    assert 15 <= owners.height <= 25
    assert set(owners["queue"]) == {"dach", "emea", "na", "default"}
    assert 1 <= (~owners["available"]).sum() <= 2
    assert owners["email"].str.ends_with("@example-vendor.com").all()


def test_ids_are_prefixed_zero_padded_and_unique(data: Dataset) -> None:
    patterns = {
        "accounts": r"^acc-\d{6}$",
        "people": r"^per-\d{7}$",
        "touchpoints": r"^tp-\d{8}$",
        "opportunities": r"^opp-\d{6}$",
        "owners": r"^own-\d{3}$",
    }
    for entity, pattern in patterns.items():
        ids = data.frames()[entity]["id"]
        assert ids.str.contains(pattern).all(), entity
        assert ids.n_unique() == len(ids), entity


def test_sizes_follow_the_number_of_people(data: Dataset) -> None:
    assert data.people.height == PEOPLE
    assert data.accounts.height == round(PEOPLE / 12)
    assert 0.9 * 20 < data.touchpoints.height / PEOPLE < 1.1 * 20
    assert 0.06 < data.opportunities.height / data.accounts.height < 0.10


def test_a_single_person_is_enough() -> None:
    tiny = generate_dataset(1)
    assert tiny.people.height == 1
    assert tiny.accounts.height == 1


def test_no_touchpoints_when_the_rate_is_zero() -> None:
    quiet = generate_dataset(50, touchpoints_per_person=0)
    assert quiet.touchpoints.height == 0
    assert dict(quiet.touchpoints.schema) == TOUCHPOINT_COLUMNS


@pytest.mark.parametrize(
    ("people", "months", "rate"), [(0, 12, 20.0), (10, 0, 20.0), (10, 601, 20.0), (10, 12, -1.0)]
)
def test_impossible_arguments_are_rejected(people: int, months: int, rate: float) -> None:
    with pytest.raises(ValueError, match="must"):
        generate_dataset(people, months=months, touchpoints_per_person=rate)


# --- referential integrity ----------------------------------------------------------------


def test_touchpoints_belong_to_existing_people_and_their_accounts(data: Dataset) -> None:
    people = data.people.select(pl.col("id").alias("person_id"), pl.col("account_id").alias("own"))
    joined = data.touchpoints.join(people, on="person_id", how="left")
    assert joined["own"].null_count() == joined["account_id"].null_count()
    assert joined.filter(pl.col("account_id") != pl.col("own")).height == 0
    assert set(data.touchpoints["person_id"]) <= set(data.people["id"])


def test_account_and_owner_references_exist_or_are_null(data: Dataset) -> None:
    accounts, owners = set(data.accounts["id"]), set(data.owners["id"])
    for frame in (data.people, data.touchpoints, data.opportunities):
        assert set(frame["account_id"].drop_nulls()) <= accounts
    for frame in (data.people, data.accounts):
        assert set(frame["owner_id"].drop_nulls()) <= owners


def test_each_opportunity_has_a_primary_person_at_its_account(data: Dataset) -> None:
    people = data.people.select(
        pl.col("id").alias("primary_person_id"), pl.col("account_id").alias("at")
    )
    joined = data.opportunities.join(people, on="primary_person_id", how="left")
    assert (joined["at"] == joined["account_id"]).all()


# --- time ---------------------------------------------------------------------------------


def test_touchpoints_fall_within_the_months_before_as_of() -> None:
    as_of = datetime(2025, 3, 15, 12, tzinfo=UTC)
    short = generate_dataset(1_000, as_of=as_of, months=3)
    occurred = short.touchpoints["occurred_at"]
    assert occurred.min() >= datetime(2024, 12, 15, 12, tzinfo=UTC)  # type: ignore[operator]
    assert occurred.max() < as_of  # type: ignore[operator]


def test_touchpoints_are_sorted_by_person_then_time(data: Dataset) -> None:
    ordered = data.touchpoints.sort(["person_id", "occurred_at"], maintain_order=True)
    assert_frame_equal(ordered, data.touchpoints)


def test_nobody_engages_before_their_record_was_created(data: Dataset) -> None:
    created = data.people.select(pl.col("id").alias("person_id"), "created_at")
    joined = data.touchpoints.join(created, on="person_id")
    assert (joined["occurred_at"] >= joined["created_at"]).all()


def test_opportunities_open_and_close_inside_the_window(data: Dataset) -> None:
    opportunities = data.opportunities
    start = DEFAULT_AS_OF - timedelta(days=366)
    assert (opportunities["created_at"] >= start).all()
    closed = opportunities.filter("is_closed")
    assert (closed["closed_at"] > closed["created_at"]).all()
    assert (closed["closed_at"] < DEFAULT_AS_OF).all()
    assert opportunities.filter(~pl.col("is_closed"))["closed_at"].null_count() == (
        opportunities.height - closed.height
    )
    assert set(closed["stage"]) == {"Closed Won", "Closed Lost"}
    assert (closed["is_won"] == (closed["stage"] == "Closed Won")).all()


# --- realistic rates ----------------------------------------------------------------------


def test_email_open_is_the_most_common_touchpoint_type_then_page_view(data: Dataset) -> None:
    counts = data.touchpoints["type"].value_counts(sort=True)["type"].to_list()
    assert counts[:2] == ["email_open", "page_view"]
    assert set(counts) <= {t.value for t in TouchpointType}


def test_unsubscribe_touchpoints_only_for_unsubscribed_people_as_their_last_touch(
    data: Dataset,
) -> None:
    unsubscribed = set(data.people.filter("unsubscribed")["id"])
    leaving = data.touchpoints.filter(pl.col("type") == "unsubscribe")
    assert leaving.height > 0
    assert set(leaving["person_id"]) <= unsubscribed
    last = data.touchpoints.group_by("person_id").agg(pl.col("type").last())
    last_unsubscribe = last.filter(pl.col("type") == "unsubscribe")["person_id"]
    assert set(leaving["person_id"]) == set(last_unsubscribe)


def test_unsubscribed_share_is_three_to_five_percent(data: Dataset) -> None:
    assert 0.03 <= data.people["unsubscribed"].mean() <= 0.05  # type: ignore[operator]


def test_meetings_and_calls_come_from_the_crm_everything_else_from_marketing(data: Dataset) -> None:
    systems = data.touchpoints.group_by("type").agg(pl.col("source_system").unique())
    for kind, values in systems.iter_rows():
        expected = ["salesforce"] if kind in ("meeting", "call") else ["hubspot"]
        assert values == expected, kind


def test_urls_for_page_views_forms_and_downloads_on_the_vendor_site(data: Dataset) -> None:
    touchpoints = data.touchpoints
    with_url = touchpoints.filter(pl.col("url").is_not_null())
    assert set(with_url["type"]) == {"page_view", "form_submit", "download"}
    assert with_url["url"].str.starts_with("https://www.example-vendor.com/").all()
    views = touchpoints.filter(pl.col("type") == "page_view")
    pricing = views["url"].str.contains("/pricing").mean()
    assert 0.03 < pricing < 0.2  # type: ignore[operator]
    forms = touchpoints.filter(pl.col("type") == "form_submit")
    contact_sales = forms["url"].str.contains("/contact-sales").mean()
    assert 0 < contact_sales < 0.1  # type: ignore[operator]


def test_campaigns_name_emails_webinars_and_events(data: Dataset) -> None:
    with_campaign = data.touchpoints.filter(pl.col("campaign").is_not_null())
    assert set(with_campaign["type"]) <= {
        "email_open", "email_click", "email_bounce", "unsubscribe", "webinar", "event",
    }  # fmt: skip
    webinars = data.touchpoints.filter(pl.col("type") == "webinar")
    assert webinars["campaign"].str.starts_with("Webinar: ").all()


def test_engagement_is_heavy_tailed(data: Dataset) -> None:
    per_person = (
        data.people.select(pl.col("id").alias("person_id"))
        .join(data.touchpoints.group_by("person_id").len(), on="person_id", how="left")
        .fill_null(0)["len"]
    )
    median = per_person.median()
    assert isinstance(median, float)
    assert median < per_person.mean() < per_person.max() / 10  # type: ignore[operator]
    assert (per_person == 0).mean() > 0.1  # type: ignore[operator]


def test_deciders_and_people_at_accounts_with_an_open_deal_engage_more(data: Dataset) -> None:
    counts = data.touchpoints.group_by("person_id").len().rename({"person_id": "id"})
    open_accounts = data.opportunities.filter(~pl.col("is_closed"))["account_id"].implode()
    people = data.people.join(counts, on="id", how="left").with_columns(pl.col("len").fill_null(0))
    by_role = dict(people.group_by("true_buying_role").agg(pl.col("len").mean()).iter_rows())
    assert by_role["decider"] > 1.5 * by_role[None]
    hot = people.filter(pl.col("account_id").is_in(open_accounts))["len"].mean()
    cold = people.filter(~pl.col("account_id").is_in(open_accounts))["len"].mean()
    assert hot > 1.5 * cold  # type: ignore[operator]


def test_about_one_and_a_half_percent_of_people_are_duplicates_by_email(data: Dataset) -> None:
    emails = data.people.select(_normalized_email()).to_series().drop_nulls()
    repeats = len(emails) - emails.n_unique()
    assert 0.01 * PEOPLE <= repeats <= 0.02 * PEOPLE


def test_some_leads_lack_an_account_but_their_email_is_at_its_domain(data: Dataset) -> None:
    leads = data.people.filter(pl.col("kind") == "lead", ~pl.col("is_competitor"))
    unlinked = leads.filter(pl.col("account_id").is_null())
    assert 0.1 < unlinked.height / leads.height < 0.25
    domains = data.accounts["domain"].implode()
    matching = unlinked.select(_normalized_email().str.split("@").list.last().is_in(domains))
    assert matching.to_series().mean() > 0.8  # type: ignore[operator]


def test_dirty_values_are_present_but_rare(data: Dataset) -> None:
    people = data.people
    clean_countries = set(data.accounts["country"])
    dirty_country = ~people["country"].is_in(clean_countries) & people["country"].is_not_null()
    assert 0 < dirty_country.mean() <= 0.05  # type: ignore[operator]
    dirty_seniority = ~people["seniority"].is_in(SENIORITIES)
    assert 0 < dirty_seniority.mean() < 0.15  # type: ignore[operator]
    assert (people["title"] != people["title"].str.strip_chars()).any()
    assert people["email"].str.contains("[A-Z]").any()
    assert people["email"].str.ends_with("@gmail.com").any()
    assert 0 < people["email"].null_count() < 0.03 * PEOPLE
    assert 0 < data.accounts["industry"].null_count() < 0.1 * data.accounts.height
    assert 0 < data.accounts["employees"].null_count() < 0.1 * data.accounts.height


def test_a_few_percent_of_people_are_competitors_without_an_account(data: Dataset) -> None:
    competitors = data.people.filter("is_competitor")
    assert 0.01 < competitors.height / PEOPLE < 0.05
    assert competitors["account_id"].null_count() == competitors.height


def test_account_domains_are_clean_and_websites_dirty(data: Dataset) -> None:
    accounts = data.accounts
    assert accounts["domain"].n_unique() == accounts.height
    assert accounts["domain"].str.contains(r"^[a-z0-9-]+(\.[a-z]+)+$").all()
    website = pl.col("website").str.to_lowercase()
    assert accounts.select(website.str.contains(pl.col("domain"), literal=True)).to_series().all()
    assert not accounts["website"].str.starts_with("https://www.").all()


def test_revenue_is_heavy_tailed_so_every_tier_has_accounts(data: Dataset) -> None:
    revenue = data.accounts["annual_revenue"].drop_nulls()
    assert (revenue >= 1e9).sum() >= 2
    assert (revenue >= 1e8).mean() < 0.5  # type: ignore[operator]
    larger = data.accounts.filter(pl.col("employees") > pl.col("employees").median())
    smaller = data.accounts.filter(pl.col("employees") <= pl.col("employees").median())
    assert larger["annual_revenue"].median() > 5 * smaller["annual_revenue"].median()  # type: ignore[operator]


# --- files and the command ----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_written_files_read_back_identical(fmt: str, tmp_path: Path) -> None:
    small = generate_dataset(300, seed=3)
    paths = write_dataset(small, tmp_path / "out", fmt)  # type: ignore[arg-type]
    assert {p.name for p in paths.values()} == {f"{name}.{fmt}" for name in small.frames()}
    _assert_same(read_dataset(tmp_path / "out", fmt), small)  # type: ignore[arg-type]


def test_the_generate_command_writes_the_files_and_names_the_next_step(tmp_path: Path) -> None:
    out = tmp_path / "data"
    result = CliRunner().invoke(
        generate, ["--people", "200", "--seed", "3", "--out", str(out), "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "accounts.csv", "opportunities.csv", "owners.csv", "people.csv", "touchpoints.csv",
    ]  # fmt: skip
    assert pl.read_csv(out / "people.csv").height == 200
    assert "touchpoints.csv" in result.output
    assert f"abmsync score --rules examples/rules.yaml --data {out}" in result.output


@pytest.mark.parametrize(
    ("arguments", "message", "code"),
    [
        (["--people", "0"], "'--people': 0 is not in the range 1<=x", 2),
        (["--as-of", "next tuesday"], "--as-of must be an ISO 8601", 1),
        (["--months", "0"], "'--months': 0 is not in the range 1<=x", 2),
    ],
)
def test_the_generate_command_rejects_bad_options_in_one_line(
    arguments: list[str], message: str, code: int, tmp_path: Path
) -> None:
    result = CliRunner().invoke(generate, [*arguments, "--out", str(tmp_path)])
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output


def test_the_generate_command_says_when_it_cannot_write(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = CliRunner().invoke(generate, ["--people", "10", "--out", str(blocker / "data")])
    assert result.exit_code == 1
    assert f"cannot write to {blocker / 'data'}" in result.output


def test_sales_feedback_follows_the_stage_and_some_rejections_lack_a_reason() -> None:
    people = generate_dataset(3000, seed=5).people
    accepted = people.filter(pl.col("stage").is_in(["sal", "sql"]))
    assert (accepted["crm_status"] == "Accepted").all()
    rejected = people.filter(pl.col("stage") == "recycled")
    assert (rejected["crm_status"] == "Rejected").all()
    missing = rejected["rejection_reason"].null_count() / rejected.height
    assert 0.05 < missing < 0.4


def test_sandbox_serve_starts_both_emulators_and_stops_by_itself() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "abmsync.cli", "sandbox", "serve", "--seconds", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Salesforce https://127.0.0.1:" in done.stdout
    assert "HubSpot http://127.0.0.1:" in done.stdout
    assert "stopped" in done.stdout
