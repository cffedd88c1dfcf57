"""Account keys in the ``writeback:`` section, and the fields ``crm install-fields`` creates."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from abmsync.connectors.base import FieldType
from abmsync.rules.loader import load_rules
from abmsync.rules.model import WriteBack
from abmsync.sync.crm import field_specs
from tests.sync.crm_env import RULES


def test_an_account_object_takes_account_keys_and_tier() -> None:
    writeback = WriteBack.model_validate(
        {"salesforce": {"Account": {"account_score": "S__c", "tier": "T__c", "mqa": "M__c"}}}
    )
    assert writeback.objects("salesforce")["Account"]["mqa"] == "M__c"


def test_account_and_person_keys_on_one_object_are_refused() -> None:
    with pytest.raises(ValidationError, match="'account_score' is an account key"):
        WriteBack.model_validate({"salesforce": {"Lead": {"score": "S__c", "account_score": "A"}}})


def test_install_fields_creates_the_brief_on_salesforce_accounts_and_hubspot_companies() -> None:
    ruleset = load_rules(RULES).ruleset
    account = next(s for s in field_specs(ruleset, "salesforce") if s.obj == "Account")
    kinds = {f.name: (f.type, f.length) for f in account.fields}
    assert kinds["ABM_Account_Score__c"] == (FieldType.NUMBER, None)
    assert kinds["ABM_MQA__c"] == (FieldType.BOOLEAN, None)
    assert kinds["ABM_Buying_Committee__c"] == (FieldType.TEXT, 4000)
    assert kinds["ABM_Last_Touch__c"] == (FieldType.DATE, None)
    companies = next(s for s in field_specs(ruleset, "hubspot") if s.obj == "companies")
    assert {f.name for f in companies.fields} >= {
        "abm_account_score",
        "abm_tier",
        "abm_mqa",
        "abm_buying_committee",
        "abm_recent_touchpoints",
    }
