"""The rest of a real org's object list: a couple of hundred thin standard objects.

A discovery over ``GET sobjects`` meets hundreds of objects, and not all of them
can be queried or laid out: ``*History`` (field history: read-only, not
replicable), ``*Share`` (sharing rows), ``*Feed`` (Chatter), ``*ChangeEvent``
(Change Data Capture: neither queryable nor retrievable) and platform events.
These objects carry the system fields and a ``Name`` (or the fields their kind
has); tables for them are created only when a record is first stored or read.
Key prefixes are the ones Salesforce uses (e.g. Case ``500``, Product2 ``01t``;
history rows share ``017``, feed items ``0D5``).
"""

from __future__ import annotations

from functools import cache

from abmsync.sandbox.salesforce.schema import FieldDef, ObjectDef, Traits
from abmsync.sandbox.salesforce.standard import (
    link_children,
    make_field,
    picklist,
    read_only,
    standard_objects,
    system_fields,
)

# name:prefix[:flags]; flags: o = has OwnerId, s = setup object (not layoutable,
# not replicable), r = read-only, n = no keyPrefix.
_THIN = """
Case:500:o Event:00U:o Note:002:o Attachment:00P:o Product2:01t Pricebook2:01s
PricebookEntry:01u OpportunityLineItem:00k Contract:800:o Order:801:o OrderItem:802
Asset:02i:o Solution:501:o Document:015 Folder:00l:s EmailTemplate:00X:o Quote:0Q0:o
QuoteLineItem:0QL Entitlement:550 ServiceContract:810:o WorkOrder:0WO:o WorkOrderLineItem:1WL
Topic:0TO TopicAssignment:0FT AccountContactRelation:07k
AccountTeamMember:01M OpportunityTeamMember:00q CaseComment:00a CaseContactRole:03j
ContractContactRole:02a OpportunityCompetitor:00J Partner:00I AccountContactRole:02Z
EmailMessage:02s ContentDocument:069:o ContentVersion:068:o ContentDocumentLink:06A
ContentNote:069:o FeedItem:0D5 FeedComment:0D7 CollaborationGroup:0F9:o
CollaborationGroupMember:0FB Idea:087 Macro:0JZ:o LiveChatTranscript:570:o
Individual:0PK:o ContactPointEmail:9CE:o ContactPointPhone:0ow:o ContactPointAddress:8lW:o
DuplicateRecordSet:0GK DuplicateRecordItem:0GL Product2Feed:0D5:r Image:0tI:o Location:131:o
Profile:00e:s UserRole:00E:s PermissionSet:0PS:s PermissionSetAssignment:0Pa:s
PermissionSetGroup:0PG:s GroupMember:011:s QueueSobject:03g:s RecordType:012:s
BusinessHours:01m:s Holiday:0C0:s Organization:00D:s UserLicense:100:s:r
ApexClass:01p:s ApexTrigger:01q:s ApexPage:066:s ApexComponent:099:s StaticResource:081:s
AsyncApexJob:707:s:r CronTrigger:08e:s:r CronJobDetail:08a:s:r Report:00O:o Dashboard:01Z:o
ListView:00B:s LoginHistory:0Ya:s:r SetupAuditTrail:0Ym:s:r ProcessInstance:04g:s:r
ProcessInstanceStep:04h:s:r ProcessDefinition:04a:s:r FlowDefinitionView:300:s:r:n
EntityDefinition:4ie:s:r:n FieldDefinition::s:r:n EntityParticle::s:r:n
DuplicateRule:0Bm:s MatchingRule:0JD:s AssignmentRule:01Q:s Period:026:s:r
FiscalYearSettings:022:s:r CurrencyType:02P:s Territory2:0MI:s Territory2Model:0MA:s
UserTerritory2Association:0R0:s ObjectTerritory2Association:0R9:s Network:0DB:s:r
Site:0DM:s:r Community:09a:s:r Calendar:023:s EventRelation:0RE TaskRelation:0RT
OpportunityStage:01J:s:r LeadStatus:01J:s:r CaseStatus:01J:s:r ContractStatus:01J:s:r
PartnerRole:01J:s:r TaskStatus:01J:s:r TaskPriority:01J:s:r SolutionStatus:01J:s:r
EmailServicesAddress:093:s EmailServicesFunction:091:s OrgWideEmailAddress:0D2:s
BrandTemplate:016:s Letterhead:01A:s StaticResourceVersion::s:r:n Scontrol:01N:s
CustomPermission:0CP:s SetupEntityAccess:0J0:s ConnectedApplication:0H4:s:r
AuthProvider:0SO:s NamedCredential:0XA:s RemoteProxy:0rp:s Publisher::s:r:n
UserAppInfo:0Ds:s UserPreference::s:r:n AppMenuItem:0DS:s:r RecentlyViewed::s:r:n
Vote::s TenantUsageEntitlement:0Iu:s:r ActiveFeatureLicenseMetric:5H2:s:r
PlatformCachePartition:0Ev:s SearchLayout::s:r:n ApexLog:07L:s:r ApexTestResult:07M:s:r
ApexTestQueueItem:709:s DataType::s:r:n ExternalDataSource:0XC:s ForecastingQuota:0J9:o
WebLink:00b:s UserProvisioningRequest:0Hg:o Pricebook2History:017:r StreamingChannel:0M6:o
"""
# Standard objects whose history, sharing and feed objects exist in every org.
_TRACKED = (
    *("Account", "Contact", "Lead", "Opportunity", "Case", "Campaign", "Contract", "Asset"),
    *("Solution", "Order", "Product2", "Entitlement", "ServiceContract", "WorkOrder"),
)
# Change Data Capture and platform event channels: not queryable, not retrievable.
_EVENTS = (
    *("BatchApexErrorEvent", "FlowExecutionErrorEvent"),
    *("AsyncOperationEvent", "LogoutEventStream"),
)
_LABELS = {"Product2": "Product", "Pricebook2": "Price Book", "Territory2": "Territory"}


def _thin(name: str, prefix: str | None, flags: str) -> ObjectDef:
    setup, read = "s" in flags, "r" in flags
    fields = [*system_fields(owner="o" in flags), make_field("Name", length=80, name_field=True)]
    traits = Traits(
        createable=not read,
        updateable=not read,
        deletable=not read,
        layoutable=not setup,
        replicateable=not setup,
        searchable=not setup,
        triggerable=not setup,
    )
    label = _LABELS.get(name, name)
    return ObjectDef(name, prefix or None, label, {f.name: f for f in fields}, traits)


def _history(parent: str) -> ObjectDef:
    name = "OpportunityFieldHistory" if parent == "Opportunity" else f"{parent}History"
    key = f"{parent}Id" if parent in ("Account", "Contact", "Lead", "Opportunity") else "ParentId"
    fields = [
        read_only("Id", "id", nillable=False),
        read_only("IsDeleted", "boolean", nillable=False, default=False),
        read_only(key, "reference", reference_to=(parent,), nillable=False, cascade_delete=True),
        read_only("CreatedById", "reference", reference_to=("User",)),
        read_only("CreatedDate", "datetime", nillable=False),
        picklist("Field", "created|Owner|Name|Status", createable=False, updateable=False),
        read_only("DataType", "string", length=40),
        read_only("OldValue", "string", length=255),
        read_only("NewValue", "string", length=255),
    ]
    traits = Traits(
        createable=False,
        updateable=False,
        deletable=False,
        layoutable=False,
        replicateable=False,
        searchable=False,
        triggerable=False,
        associate_type="History",
        associate_parent=parent,
    )
    return ObjectDef(name, "017", f"{parent} History", _by_name(fields), traits)


def _share(parent: str) -> ObjectDef:
    key = f"{parent}Id" if parent in ("Account", "Contact", "Lead", "Opportunity") else "ParentId"
    level = f"{parent}AccessLevel" if key != "ParentId" else "AccessLevel"
    fields = [
        read_only("Id", "id", nillable=False),
        make_field(key, "reference", reference_to=(parent,), nillable=False, cascade_delete=True),
        make_field("UserOrGroupId", "reference", reference_to=("User", "Group"), nillable=False),
        picklist(level, "Read|Edit|All", nillable=False),
        picklist("RowCause", "Owner|Manual|Rule|ImplicitChild", default="Manual"),
        read_only("LastModifiedDate", "datetime", nillable=False),
        read_only("LastModifiedById", "reference", reference_to=("User",)),
        read_only("IsDeleted", "boolean", nillable=False, default=False),
    ]
    traits = Traits(
        updateable=True,
        layoutable=False,
        replicateable=False,
        searchable=False,
        triggerable=False,
        associate_type="Share",
        associate_parent=parent,
    )
    prefix = {"Account": "00r", "Contact": "03s", "Lead": "01o", "Opportunity": "00t"}
    return ObjectDef(
        f"{parent}Share", prefix.get(parent), f"{parent} Share", _by_name(fields), traits
    )


def _feed(parent: str) -> ObjectDef:
    fields = [
        read_only("Id", "id", nillable=False),
        read_only(
            "ParentId", "reference", reference_to=(parent,), nillable=False, cascade_delete=True
        ),
        picklist("Type", "TextPost|LinkPost|TrackedChange|CreateRecordEvent", createable=False),
        read_only("CreatedById", "reference", reference_to=("User",)),
        read_only("CreatedDate", "datetime", nillable=False),
        read_only("IsDeleted", "boolean", nillable=False, default=False),
        read_only("LastModifiedDate", "datetime", nillable=False),
        read_only("SystemModstamp", "datetime", nillable=False),
        read_only("CommentCount", "int", precision=9),
        read_only("LikeCount", "int", precision=9),
        read_only("Title", "string", length=255),
        read_only("Body", "textarea", length=10000),
        read_only("LinkUrl", "url", length=1000),
    ]
    traits = Traits(
        createable=False,
        updateable=False,
        layoutable=False,
        replicateable=False,
        searchable=False,
        triggerable=False,
        associate_type="Feed",
        associate_parent=parent,
    )
    return ObjectDef(f"{parent}Feed", "0D5", f"{parent} Feed", _by_name(fields), traits)


def _event(name: str, parent: str | None) -> ObjectDef:
    fields = [read_only("ReplayId", "string", length=255), read_only("CreatedDate", "datetime")]
    traits = Traits(
        queryable=False,
        retrieveable=False,
        updateable=False,
        deletable=False,
        layoutable=False,
        replicateable=False,
        searchable=False,
        createable=parent is None,
        associate_type="ChangeEvent" if parent else None,
        associate_parent=parent,
    )
    return ObjectDef(name, None, name, _by_name(fields), traits)


def _by_name(fields: list[FieldDef]) -> dict[str, FieldDef]:
    return {f.name: f for f in fields}


@cache
def _templates() -> tuple[ObjectDef, ...]:
    """Every object of a new org, built once; each org copies them."""
    objects = standard_objects()
    for entry in _THIN.split():
        name, prefix, *flags = entry.split(":")
        objects.setdefault(name, _thin(name, prefix, "".join(flags)))
    for parent in _TRACKED:
        for made in (_history(parent), _share(parent), _feed(parent)):
            objects.setdefault(made.name, made)
        objects[f"{parent}ChangeEvent"] = _event(f"{parent}ChangeEvent", parent)
    for name in _EVENTS:
        objects[name] = _event(name, None)
    link_children(objects)
    return tuple(objects.values())


def org_objects() -> dict[str, ObjectDef]:
    """A fresh, independent set of every object of a new org, by name."""
    return {o.name: o.copy() for o in _templates()}
