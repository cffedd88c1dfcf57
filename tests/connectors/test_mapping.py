"""YAML field mappings: named transforms, located errors, and mapping frames onto the schema."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from textwrap import dedent

import polars as pl
import pytest

from abmsync.connectors.mapping import (
    BadValueError,
    Mapping,
    MappingError,
    apply_mapping,
    load_mapping,
)
from abmsync.connectors.transforms import COUNTRY_CODES, TransformArgs
from abmsync.errors import ConfigError
from abmsync.schema import TIMESTAMP, conform


def transform(values: Sequence[object], name: str | list[str], **args: object) -> list[object]:
    """Run one transform (or a chain) over a column holding ``values``."""
    frame = pl.DataFrame({"v": values}, strict=False)
    rule = TransformArgs.model_validate({"transform": name, **args})
    expr, _ = rule.apply(pl.col("v"), frame.schema["v"])
    return frame.select(expr).to_series().to_list()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, *rest: int) -> datetime:
    second, micro = (*rest, 0, 0)[:2]
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def write_mapping(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text(dedent(text).lstrip(), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- transforms


def test_strip_trims_and_turns_blank_into_null() -> None:
    assert transform(["  VP Sales ", "   ", None], "strip") == ["VP Sales", None, None]


def test_lower_and_upper_trim_and_change_case() -> None:
    assert transform([" MiXed "], "lower") == ["mixed"]
    assert transform([" MiXed "], "upper") == ["MIXED"]


def test_email_is_trimmed_lower_cased_and_unwrapped() -> None:
    values = ["  Anna.Schmidt@Example.DE ", "Jane Roe <Jane@X.com>", "mailto:Q@R.de", ""]
    assert transform(values, "email") == ["anna.schmidt@example.de", "jane@x.com", "q@r.de", None]


def test_integer_reads_thousands_separators_and_whole_floats() -> None:
    assert transform(["1,200", " 12.0 ", "1'000", "n/a", "12.5", None], "integer") == [
        1200,
        12,
        1000,
        None,
        None,
        None,
    ]


def test_integer_keeps_whole_float_values_and_drops_fractions() -> None:
    assert transform([3.0, 2.5], "integer") == [3, None]


def test_number_reads_currency_and_decimal_comma() -> None:
    assert transform(["$1,200.50", "1,5", "EUR 300", "€ 12", "abc"], "number") == [
        1200.5,
        1.5,
        300.0,
        12.0,
        None,
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("Yes", True),
        ("1", True),
        ("x", True),
        ("ja", True),
        ("FALSE", False),
        ("no", False),
        ("0", False),
        ("non", False),
        ("maybe", None),
        ("", None),
    ],
)
def test_boolean_reads_common_spellings(text: str, expected: bool | None) -> None:
    assert transform([text], "boolean") == [expected]


def test_boolean_of_numbers_is_nonzero() -> None:
    assert transform([0, 2], "boolean") == [False, True]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-15T10:30:00Z", utc(2024, 1, 15, 10, 30)),
        ("2024-01-15T10:30:00+02:00", utc(2024, 1, 15, 8, 30)),
        ("2024-01-15T10:30:00.250-0500", utc(2024, 1, 15, 15, 30, 0, 250000)),
        ("2024-01-15 10:30:00", utc(2024, 1, 15, 10, 30)),
        ("2024-01-15T10:30", utc(2024, 1, 15, 10, 30)),
        ("2024-01-15", utc(2024, 1, 15)),
        ("20240115T103000+0100", utc(2024, 1, 15, 9, 30)),
        ("2024-01-15 9:05", utc(2024, 1, 15, 9, 5)),
        ("2024-02-30", None),
        ("1705314600000", utc(2024, 1, 15, 10, 30)),
        ("1705314600", utc(2024, 1, 15, 10, 30)),
        ("not a date", None),
        ("", None),
    ],
)
def test_datetime_reads_iso_offsets_and_epochs_as_utc(text: str, expected: datetime | None) -> None:
    assert transform([text], "datetime") == [expected]


def test_datetime_result_is_a_utc_microsecond_timestamp() -> None:
    frame = pl.DataFrame({"v": ["2024-01-15T10:30:00Z"]})
    expr, dtype = TransformArgs(transform=["datetime"]).apply(pl.col("v"), pl.String())
    assert dtype == TIMESTAMP
    assert frame.select(expr).to_series().dtype == TIMESTAMP


def test_datetime_reads_epoch_milliseconds_from_integer_columns() -> None:
    assert transform([1705314600000, None], "datetime") == [utc(2024, 1, 15, 10, 30), None]


def test_datetime_unit_overrides_the_epoch_guess() -> None:
    assert transform([1705314600], "datetime", unit="ms") == [utc(1970, 1, 20, 17, 41, 54, 600000)]


def test_datetime_reads_naive_values_in_the_given_timezone() -> None:
    values = ["2024-01-15 10:30:00", "2024-07-15 10:30:00", "2024-01-15T10:30:00Z"]
    assert transform(values, "datetime", timezone="Europe/Berlin") == [
        utc(2024, 1, 15, 9, 30),
        utc(2024, 7, 15, 8, 30),
        utc(2024, 1, 15, 10, 30),  # an explicit offset wins over the default zone
    ]


def test_datetime_format_reads_locale_exports() -> None:
    values = ["1/15/2024, 9:05 AM", "garbage"]
    result = transform(values, "datetime", format="%m/%d/%Y, %I:%M %p", timezone="America/New_York")
    assert result == [utc(2024, 1, 15, 14, 5), None]


def test_datetime_of_naive_datetime_column_is_localized() -> None:
    assert transform([datetime(2024, 1, 15, 10, 30)], "datetime", timezone="Europe/Berlin") == [
        utc(2024, 1, 15, 9, 30)
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-15", date(2024, 1, 15)),
        ("2024-01-15T23:30:00-05:00", date(2024, 1, 15)),
        ("20240115", date(2024, 1, 15)),
        ("1705314600000", date(2024, 1, 15)),
        ("soon", None),
    ],
)
def test_date_reads_iso_dates_datetimes_and_epochs(value: str, expected: date | None) -> None:
    assert transform([value], "date") == [expected]


def test_date_format_reads_day_first_dates() -> None:
    assert transform(["15.01.2024"], "date", format="%d.%m.%Y") == [date(2024, 1, 15)]


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Germany", "DE"),
        ("de", "DE"),
        ("Deutschland", "DE"),
        ("DEU", "DE"),
        ("Allemagne", "DE"),
        ("  österreich ", "AT"),
        ("Oesterreich", "AT"),
        ("Suisse", "CH"),
        ("U.S.A.", "US"),
        ("United States of America", "US"),
        ("États-Unis", "US"),
        ("Etats Unis", "US"),
        ("UK", "GB"),
        ("Royaume-Uni", "GB"),
        ("Großbritannien", "GB"),
        ("Korea, Republic of", "KR"),
        ("Pays-Bas", "NL"),
    ],
)
def test_country_maps_names_aliases_and_iso3_to_iso2(name: str, code: str) -> None:
    assert transform([name], "country") == [code]


def test_country_keeps_unknown_values_upper_casing_two_letter_codes() -> None:
    assert transform(["xx", "Atlantis", "", None], "country") == ["XX", "Atlantis", None, None]


def test_country_table_covers_sixty_countries() -> None:
    assert len(set(COUNTRY_CODES.values())) >= 60


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://www.Example.com/pricing?utm=x#top", "example.com"),
        ("http://shop.example.co.uk:8080/", "shop.example.co.uk"),
        ("www2.acme.io", "acme.io"),
        ("acme.com.", "acme.com"),
        ("Anna.Schmidt@Beispiel.DE", "beispiel.de"),
        ("mailto:jane@x.com", "x.com"),
        ("//cdn.example.com/a.js", "cdn.example.com"),
        ("  ", None),
    ],
)
def test_domain_comes_from_urls_and_emails(value: str, expected: str | None) -> None:
    assert transform([value], "domain") == [expected]


def test_split_makes_trimmed_lists_without_blanks() -> None:
    assert transform(["a; b ;;c", "", None], "split") == [["a", "b", "c"], None, None]
    assert transform(["a,b"], "split", sep=",") == [["a", "b"]]


def test_transforms_after_split_apply_to_each_element() -> None:
    assert transform(["Germany;fr"], ["split", "country"]) == [["DE", "FR"]]


def test_datetime_after_split_parses_each_element() -> None:
    assert transform(["2024-01-15; 2024-02-01T10:00+01:00"], ["split", "datetime"]) == [
        [utc(2024, 1, 15), utc(2024, 2, 1, 9)]
    ]


def test_const_fills_every_row(tmp_path: Path) -> None:
    path = write_mapping(
        tmp_path,
        """
        entity: touchpoints
        source: {system: files, object: webinar}
        fields:
          person_id: Email
          type: {const: webinar}
          occurred_at: {const: "2024-03-01T09:00:00Z", transform: datetime}
        """,
    )
    frame = apply_mapping(load_mapping(path), pl.DataFrame({"Email": ["a@x.com", "b@x.com"]}))
    assert frame["type"].to_list() == ["webinar", "webinar"]
    assert frame["occurred_at"].to_list() == [utc(2024, 3, 1, 9), utc(2024, 3, 1, 9)]


# --------------------------------------------------------------------------- loading errors


def load_error(tmp_path: Path, text: str) -> str:
    path = write_mapping(tmp_path, text)
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:")
    return message.removeprefix(f"{path}:")


def test_unknown_schema_column_is_located_and_suggests_the_closest(tmp_path: Path) -> None:
    message = load_error(
        tmp_path,
        """
        entity: people
        source: {system: salesforce, object: Lead}
        fields:
          id: Id
          emial: {field: Email, transform: email}
        """,
    )
    assert message.startswith("5:3: unknown people column 'emial'")
    assert "did you mean 'email'?" in message


def test_unknown_transform_is_located_and_suggests_the_closest(tmp_path: Path) -> None:
    message = load_error(
        tmp_path,
        """
        entity: people
        source: {system: salesforce, object: Lead}
        fields:
          id: Id
          email: {field: Email, transform: emial}
        """,
    )
    assert message.startswith("5:36: ")
    assert "unknown transform 'emial' (did you mean 'email'?)" in message


def test_misspelt_key_points_at_the_key(tmp_path: Path) -> None:
    message = load_error(
        tmp_path,
        """
        entity: people
        source: {system: salesforce, object: Lead}
        fields:
          id: Id
          email:
            field: Email
            transfrom: email
        """,
    )
    assert message == "7:5: unknown key 'transfrom' (did you mean 'transform'?)"


def test_required_column_must_be_mapped(tmp_path: Path) -> None:
    message = load_error(
        tmp_path,
        """
        entity: touchpoints
        source: {system: hubspot, object: events}
        fields:
          person_id: contact_id
          type: event_type
        """,
    )
    assert message.endswith("touchpoints mapping must map required column 'occurred_at'")


def test_invalid_yaml_is_located(tmp_path: Path) -> None:
    message = load_error(
        tmp_path,
        """
        entity: people
        source: {system: salesforce, object: Lead
        fields:
        """,
    )
    assert message.startswith("3:7: invalid YAML")


def test_duplicate_keys_are_rejected(tmp_path: Path) -> None:
    message = load_error(
        tmp_path,
        """
        entity: people
        source: {system: salesforce, object: Lead}
        fields:
          id: Id
          id: LeadId
        """,
    )
    assert message == "5:3: duplicate key 'id'"


def test_unknown_entity_names_the_choices(tmp_path: Path) -> None:
    message = load_error(
        tmp_path,
        """
        entity: persons
        source: {system: salesforce, object: Lead}
        fields: {id: Id}
        """,
    )
    assert message.startswith("1:9: entity: ")
    assert "'people'" in message


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ("{field: Email, sep: ','}", "'sep' only applies to transform split"),
        ("{field: Email, transform: datetime, timezone: Mars/Base}", "unknown timezone"),
        ("{field: Email, const: x}", "exactly one of 'field', 'first_of' or 'const'"),
        ("{field: Email, transform: split}", "'split' makes a list"),
    ],
)
def test_rule_arguments_are_checked(tmp_path: Path, rule: str, problem: str) -> None:
    message = load_error(
        tmp_path,
        f"""
        entity: people
        source: {{system: salesforce, object: Lead}}
        fields:
          id: Id
          title: {rule}
        """,
    )
    assert message.startswith("5:")
    assert problem in message


def test_custom_column_may_not_shadow_a_schema_column(tmp_path: Path) -> None:
    message = load_error(
        tmp_path,
        """
        entity: people
        source: {system: salesforce, object: Lead}
        fields: {id: Id}
        custom:
          Email: email
        """,
    )
    assert message.startswith("5:10: custom column 'email' is a people column")


def test_mapping_errors_are_config_errors() -> None:
    assert issubclass(MappingError, ConfigError)


def test_mapping_built_in_code_is_validated_too() -> None:
    with pytest.raises(MappingError, match=r"unknown accounts column 'domian'.*'domain'"):
        Mapping.model_validate(
            {
                "entity": "accounts",
                "source": {"system": "hubspot", "object": "companies"},
                "fields": {"id": "hs_object_id", "domian": "domain"},
            }
        )


# --------------------------------------------------------------------------- applying


LEADS = """
entity: people
source: {system: salesforce, object: Lead}
fields:
  id: Id
  email: {field: Email, transform: email}
  country: {field: Country, transform: country}
  unsubscribed: {field: HasOptedOutOfEmail, transform: boolean}
  created_at: {field: CreatedDate, transform: datetime}
custom:
  Rating: rating
  Interests__c: {column: interests, transform: split}
"""


def leads_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "Id": ["00Q1", "00Q2"],
            "Email": [" A@X.com", None],
            "Country": ["Deutschland", "fr"],
            "HasOptedOutOfEmail": ["true", "false"],
            "CreatedDate": ["2024-01-15T10:30:00.000+0000", "1705314600000"],
            "Rating": ["Hot", None],
            "Interests__c": ["ABM;Scoring", None],
            "Ignored": ["x", "y"],
        }
    )


def test_apply_mapping_produces_a_conformed_people_frame(tmp_path: Path) -> None:
    mapping = load_mapping(write_mapping(tmp_path, LEADS))
    people = apply_mapping(mapping, leads_frame())
    assert people.equals(conform(people, "people"))
    assert people.columns[:3] == ["id", "kind", "email"]
    assert people.columns[-2:] == ["rating", "interests"]
    assert "Ignored" not in people.columns
    first = people.row(0, named=True)
    assert {k: first[k] for k in ("id", "email", "country", "unsubscribed", "created_at")} == {
        "id": "00Q1",
        "email": "a@x.com",
        "country": "DE",
        "unsubscribed": True,
        "created_at": utc(2024, 1, 15, 10, 30),
    }
    assert people["country"].to_list() == ["DE", "FR"]
    assert people["created_at"].to_list() == [utc(2024, 1, 15, 10, 30)] * 2
    assert people["rating"].to_list() == ["Hot", None]
    assert people["interests"].to_list() == [["ABM", "Scoring"], None]


def test_missing_vendor_field_points_at_the_mapping_line(tmp_path: Path) -> None:
    path = write_mapping(tmp_path, LEADS)
    frame = leads_frame().rename({"Email": "EMail"})
    with pytest.raises(MappingError) as caught:
        apply_mapping(load_mapping(path), frame)
    assert str(caught.value) == (
        f"{path}:5:18: input has no column 'Email' (did you mean 'EMail'?)"
    )


def test_missing_custom_vendor_field_points_at_its_key(tmp_path: Path) -> None:
    path = write_mapping(tmp_path, LEADS)
    with pytest.raises(MappingError, match=r"mapping.yaml:10:3: input has no column 'Rating'"):
        apply_mapping(load_mapping(path), leads_frame().drop("Rating"))


def test_optional_custom_field_missing_from_the_org_is_a_null_column(tmp_path: Path) -> None:
    text = LEADS + "  Rejection_Reason__c: {column: rejection_reason, optional: true}\n"
    mapping = load_mapping(write_mapping(tmp_path, text))
    without = apply_mapping(mapping, leads_frame())
    assert without["rejection_reason"].to_list() == [None, None]
    present = leads_frame().with_columns(pl.Series("Rejection_Reason__c", ["Budget", None]))
    assert apply_mapping(mapping, present)["rejection_reason"].to_list() == ["Budget", None]


def test_untransformed_column_with_a_bad_value_names_the_row(tmp_path: Path) -> None:
    path = write_mapping(
        tmp_path,
        """
        entity: accounts
        source: {system: files, object: accounts}
        fields: {id: Id, employees: Employees}
        """,
    )
    frame = pl.DataFrame({"Id": ["a", "b", "c"], "Employees": ["10", "", "lots"]})
    with pytest.raises(BadValueError, match=r"row 3: column 'employees': 'lots' is not an integer"):
        apply_mapping(load_mapping(path), frame)


def test_touchpoints_take_their_source_system_from_the_mapping(tmp_path: Path) -> None:
    path = write_mapping(
        tmp_path,
        """
        entity: touchpoints
        source: {system: hubspot, object: form_submissions}
        fields:
          id: submission_id
          person_id: contact_id
          type: {const: form_submit}
          occurred_at: {field: submitted_at, transform: datetime}
        """,
    )
    frame = pl.DataFrame({"submission_id": ["s1"], "contact_id": ["c1"], "submitted_at": [0]})
    touchpoints = apply_mapping(load_mapping(path), frame)
    assert touchpoints["source_system"].to_list() == ["hubspot"]
    assert touchpoints["occurred_at"].to_list() == [utc(1970, 1, 1)]


def test_map_transform_translates_vendor_values_and_defaults_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "deals.yaml"
    path.write_text(
        "entity: opportunities\n"
        "source: {system: hubspot, object: deals}\n"
        "fields:\n"
        "  id: id\n"
        "  is_won: {field: stage, transform: map, values: {closedwon: true}, default: false}\n"
        "  stage: {field: stage, transform: map, values: {closedwon: Won, closedlost: Lost}}\n"
    )
    frame = pl.DataFrame({"id": ["1", "2", "3"], "stage": ["closedwon", "closedlost", "qualified"]})
    mapped = apply_mapping(load_mapping(path), frame)
    assert mapped["is_won"].to_list() == [True, False, False]
    assert mapped["stage"].to_list() == ["Won", "Lost", None]
