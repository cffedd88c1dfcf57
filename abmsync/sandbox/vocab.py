"""Word lists and weights behind the synthetic data set of ``abmsync.sandbox.generate``.

Every list here is small: the generator samples integer codes into these
pools with numpy and turns codes into strings once per column, so the size of
the data set never depends on the length of a list. Weights are relative, not
probabilities; they are normalized where they are used.
"""

from __future__ import annotations

from typing import NamedTuple

VENDOR_SITE = "https://www.example-vendor.com"
VENDOR_DOMAIN = "example-vendor.com"


class Industry(NamedTuple):
    name: str
    weight: float
    revenue_per_employee: float  # median, USD
    words: tuple[str, ...]  # the second word of company names in this industry


INDUSTRIES: tuple[Industry, ...] = (
    Industry("Software", 18, 250e3, ("Software", "Systems", "Analytics", "Cloud", "Labs", "Data")),
    Industry(
        "Manufacturing",
        16,
        220e3,
        ("Robotics", "Industries", "Machinery", "Components", "Automation", "Engineering"),
    ),
    Industry("Financial Services", 8, 450e3, ("Capital", "Bank", "Financial", "Insurance")),
    Industry("Healthcare", 8, 150e3, ("Health", "Medical", "Pharma", "Biotech", "Diagnostics")),
    Industry("Retail", 7, 200e3, ("Retail", "Stores", "Brands", "Commerce")),
    Industry("Logistics", 6, 180e3, ("Logistics", "Freight", "Transport", "Shipping")),
    Industry("Professional Services", 6, 160e3, ("Consulting", "Advisory", "Partners")),
    Industry("Energy", 5, 600e3, ("Energy", "Power", "Utilities", "Solar")),
    Industry("Automotive", 5, 350e3, ("Automotive", "Motors", "Mobility")),
    Industry("Telecommunications", 4, 400e3, ("Telecom", "Networks", "Communications")),
    Industry("Education", 4, 90e3, ("Academy", "Institute", "Learning", "College")),
    Industry("Government", 3, 120e3, ("Agency", "Authority", "Public Services")),
    Industry("Chemicals", 3, 500e3, ("Chemicals", "Materials", "Polymers")),
    Industry("Media", 3, 220e3, ("Media", "Publishing", "Studios")),
)

# Invented brand words: first syllable x second syllable, plus a few plain words.
BRAND_HEADS = (
    "Al", "Ar", "Bel", "Bor", "Cal", "Cor", "Dal", "Del", "El", "Fal", "Gal", "Har",
    "Hel", "Kal", "Kor", "Lum", "Mar", "Nor", "Nov", "Or", "Pan", "Quan", "Ral", "Sol",
    "Ster", "Tal", "Ter", "Ul", "Val", "Vel", "Ver", "Wes", "Zen", "Ast", "Bren", "Cyr",
)  # fmt: skip
BRAND_TAILS = (
    "dex", "tron", "via", "ora", "ix", "ant", "ara", "eon", "ica", "ion", "is", "on",
    "ent", "ex", "ium", "os", "ux", "ano", "ys", "ika", "etta", "wyn", "gard", "ford",
    "stead", "mont", "ton", "lux",
)  # fmt: skip
BRAND_WORDS = (
    "Acme", "Apex", "Vertex", "Helix", "Nordwind", "Bluestone", "Summit", "Atlas", "Orion",
    "Pioneer", "Keystone", "Granite", "Silverline", "Northstar", "Evergreen", "Redwood",
    "Ironbridge", "Brightwater", "Falcon", "Meridian", "Alpine", "Rheinland", "Baltic",
    "Pacific", "Continental", "Lighthouse", "Copperfield", "Blackforest", "Westhaven",
    "Sunridge", "Oakmont", "Highland", "Riverside", "Starling", "Quantum", "Polaris",
)  # fmt: skip
# Added when a company name is taken; "International" is a trap for 'intern' keywords.
NAME_QUALIFIERS = ("Group", "International", "Holding", "Solutions", "& Co", "Partners")


class Country(NamedTuple):
    code: str
    weight: float  # share of accounts
    queue: str  # owner queue serving the country
    locale: int  # index into NAME_LOCALES
    tld: str
    utc_offset_hours: int  # business hours are drawn in local time
    legal_forms: tuple[str, ...]
    dirty: tuple[str, ...]  # how people type the country into forms


NAME_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "nl_NL", "es_ES", "it_IT", "sv_SE", "pl_PL")

COUNTRIES: tuple[Country, ...] = (
    Country("US", 30, "na", 0, "com", -5, ("Inc.", "Inc", "LLC", "Corp."),
            ("USA", "United States", "us", "U.S.")),
    Country("DE", 14, "dach", 2, "de", 1, ("GmbH", "AG", "GmbH & Co. KG"),
            ("Germany", "de", "Deutschland", "DE ")),
    Country("GB", 9, "emea", 1, "co.uk", 0, ("Ltd", "Ltd.", "plc"),
            ("UK", "United Kingdom", "gb", "England")),
    Country("FR", 6, "emea", 3, "fr", 1, ("SAS", "SA"), ("France", "fr")),
    Country("NL", 4, "emea", 4, "nl", 1, ("B.V.", "BV"), ("Netherlands", "Holland", "nl")),
    Country("CH", 4, "dach", 2, "ch", 1, ("AG", "GmbH", "SA"),
            ("Switzerland", "Schweiz", "ch")),
    Country("AT", 3, "dach", 2, "at", 1, ("GmbH", "AG"), ("Austria", "Österreich", "at")),
    Country("CA", 3, "na", 0, "ca", -5, ("Inc.", "Ltd."), ("Canada", "ca")),
    Country("ES", 3, "emea", 5, "es", 1, ("S.L.", "S.A."), ("Spain", "España", "es")),
    Country("IT", 3, "emea", 6, "it", 1, ("S.p.A.", "S.r.l."), ("Italy", "Italia", "it")),
    Country("SE", 2, "emea", 7, "se", 1, ("AB",), ("Sweden", "Sverige", "se")),
    Country("BE", 2, "emea", 3, "be", 1, ("NV", "SA"), ("Belgium", "be")),
    Country("PL", 2, "emea", 8, "pl", 1, ("Sp. z o.o.", "S.A."), ("Poland", "Polska", "pl")),
    Country("IN", 2, "default", 0, "in", 5, ("Pvt. Ltd.", "Ltd."), ("India", "in")),
    Country("AU", 2, "default", 1, "com.au", 10, ("Pty Ltd",), ("Australia", "au")),
    Country("DK", 1.5, "emea", 7, "dk", 1, ("A/S", "ApS"), ("Denmark", "dk")),
    Country("IE", 1.5, "emea", 1, "ie", 0, ("Ltd", "DAC"), ("Ireland", "ie")),
    Country("JP", 1.5, "default", 0, "co.jp", 9, ("K.K.",), ("Japan", "jp")),
    Country("BR", 1.5, "na", 5, "com.br", -3, ("Ltda.", "S.A."), ("Brazil", "Brasil", "br")),
    Country("SG", 1, "default", 0, "sg", 8, ("Pte. Ltd.",), ("Singapore", "sg")),
)  # fmt: skip

QUEUES = ("dach", "emea", "na", "default")
OWNERS_PER_QUEUE = (5, 5, 6, 4)
OWNER_LOCALES = ("de_DE", "en_GB", "en_US", "en_US")

FREEMAIL_GLOBAL = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com")
FREEMAIL_BY_COUNTRY = {
    "DE": ("gmx.de", "web.de", "t-online.de"),
    "AT": ("gmx.at",),
    "CH": ("bluewin.ch",),
    "FR": ("orange.fr", "free.fr"),
    "GB": ("btinternet.com",),
}

COMPETITORS = (
    ("LeadPulse", "leadpulse.io"),
    ("Scorely", "scorely.com"),
    ("FunnelForge", "funnelforge.com"),
    ("RevStack", "revstack.io"),
)

SENIORITIES = ("C-Level", "VP", "Director", "Manager", "Individual Contributor", "Intern/Student")
BUYING_ROLES = ("decider", "buyer", "influencer", "user", "gatekeeper")

# Probability of each buying role (in BUYING_ROLES order); the rest is no role.
ROLE_PROFILES: dict[str, tuple[float, float, float, float, float]] = {
    "exec": (0.70, 0.05, 0.20, 0.0, 0.0),
    "director": (0.20, 0.10, 0.50, 0.05, 0.0),
    "manager": (0.05, 0.05, 0.40, 0.25, 0.0),
    "ic": (0.0, 0.0, 0.10, 0.55, 0.0),
    "purchasing": (0.05, 0.75, 0.10, 0.0, 0.05),
    "gatekeeper": (0.0, 0.0, 0.05, 0.0, 0.70),
    "student": (0.0, 0.0, 0.0, 0.05, 0.0),
}


class Title(NamedTuple):
    title: str
    seniority: str
    weight: float
    profile: str  # key of ROLE_PROFILES


def _titles(*rows: tuple[str, str, float, str]) -> tuple[Title, ...]:
    return tuple(Title(*row) for row in rows)


C, VP, DIR, MGR, IC, STU = SENIORITIES

# persona -> (share of people, titles). Titles include the classic keyword traps:
# "Director" contains 'cto', "International ..." contains 'intern'.
PERSONAS: dict[str, tuple[float, tuple[Title, ...]]] = {
    "senior management": (6, _titles(
        ("Chief Executive Officer", C, 3, "exec"), ("CEO", C, 3, "exec"),
        ("Managing Director", C, 3, "exec"), ("Chief Operating Officer", C, 2, "exec"),
        ("President", C, 1, "exec"), ("Founder & CEO", C, 1, "exec"),
        ("General Manager", VP, 2, "exec"), ("VP Operations", VP, 2, "exec"),
        ("Senior Vice President, Strategy", VP, 1, "exec"),
        ("Executive Assistant to the CEO", IC, 2, "gatekeeper"),
    )),
    "development manager": (7, _titles(
        ("Head of R&D", DIR, 3, "director"), ("Director of Engineering", DIR, 3, "director"),
        ("VP Engineering", VP, 2, "exec"), ("Chief Technology Officer", C, 1, "exec"),
        ("CTO", C, 1, "exec"), ("R&D Manager", MGR, 3, "manager"),
        ("Engineering Manager", MGR, 4, "manager"),
        ("Product Development Manager", MGR, 2, "manager"),
    )),
    "department manager": (10, _titles(
        ("Plant Manager", MGR, 3, "manager"), ("Operations Manager", MGR, 4, "manager"),
        ("Production Manager", MGR, 3, "manager"), ("Head of Quality", DIR, 2, "director"),
        ("Quality Manager", MGR, 3, "manager"), ("Logistics Manager", MGR, 2, "manager"),
        ("Director of Operations", DIR, 2, "director"),
        ("Team Lead Customer Service", MGR, 2, "manager"),
    )),
    "operator": (8, _titles(
        ("Machine Operator", IC, 3, "ic"), ("Production Supervisor", MGR, 2, "manager"),
        ("Shift Lead", IC, 2, "ic"), ("Operations Specialist", IC, 3, "ic"),
        ("Technician", IC, 3, "ic"), ("Maintenance Technician", IC, 2, "ic"),
    )),
    "engineer": (18, _titles(
        ("Software Engineer", IC, 5, "ic"), ("Senior Software Engineer", IC, 4, "ic"),
        ("Mechanical Engineer", IC, 2, "ic"), ("Process Engineer", IC, 2, "ic"),
        ("Data Engineer", IC, 2, "ic"), ("Principal Engineer", IC, 1, "ic"),
        ("Solutions Architect", IC, 2, "ic"), ("DevOps Engineer", IC, 2, "ic"),
    )),
    "it": (12, _titles(
        ("Chief Information Officer", C, 1, "exec"), ("CIO", C, 1, "exec"),
        ("IT Director", DIR, 2, "director"), ("Head of IT", DIR, 2, "director"),
        ("IT Manager", MGR, 4, "manager"), ("Systems Administrator", IC, 3, "ic"),
        ("IT Security Officer", MGR, 2, "gatekeeper"), ("Network Engineer", IC, 2, "ic"),
        ("IT Support Specialist", IC, 2, "ic"),
    )),
    "finance": (6, _titles(
        ("Chief Financial Officer", C, 1, "exec"), ("CFO", C, 1, "exec"),
        ("VP Finance", VP, 1, "exec"), ("Finance Director", DIR, 2, "director"),
        ("Controller", MGR, 3, "purchasing"), ("Financial Analyst", IC, 3, "ic"),
        ("Accountant", IC, 2, "ic"),
    )),
    "procurement": (6, _titles(
        ("Chief Procurement Officer", C, 0.5, "exec"),
        ("Head of Procurement", DIR, 2, "purchasing"),
        ("Procurement Manager", MGR, 4, "purchasing"), ("Strategic Buyer", IC, 3, "purchasing"),
        ("Purchasing Agent", IC, 2, "purchasing"), ("Category Manager", MGR, 2, "purchasing"),
    )),
    "marketing": (9, _titles(
        ("Chief Marketing Officer", C, 1, "exec"), ("CMO", C, 0.5, "exec"),
        ("VP Marketing", VP, 1, "exec"), ("Marketing Director", DIR, 2, "director"),
        ("Marketing Manager", MGR, 4, "manager"),
        ("Marketing Operations Manager", MGR, 2, "manager"),
        ("Demand Generation Manager", MGR, 2, "manager"),
        ("Content Marketing Specialist", IC, 2, "ic"), ("Marketing Coordinator", IC, 2, "ic"),
    )),
    "sales": (10, _titles(
        ("Chief Revenue Officer", C, 0.5, "exec"), ("VP Sales", VP, 1.5, "exec"),
        ("Sales Director", DIR, 2, "director"), ("Head of Sales", DIR, 1, "director"),
        ("Sales Manager", MGR, 3, "manager"), ("International Sales Manager", MGR, 1, "manager"),
        ("Account Executive", IC, 4, "ic"), ("Key Account Manager", MGR, 2, "manager"),
        ("Sales Development Representative", IC, 2, "ic"),
    )),
    "student": (3, _titles(
        ("Student", STU, 4, "student"), ("Working Student", STU, 2, "student"),
        ("Intern", STU, 3, "student"), ("Marketing Intern", STU, 1, "student"),
        ("PhD Candidate", STU, 1, "student"), ("Werkstudent", STU, 1, "student"),
        ("Trainee", STU, 1, "student"),
    )),
}  # fmt: skip

LEAD_SOURCES = (
    ("Web Form", 20), ("Organic Search", 12), ("Content Download", 12), ("Webinar", 10),
    ("Paid Search", 8), ("Trade Show", 8), ("Sales Prospecting", 8), ("Referral", 5),
    ("Partner", 5), ("LinkedIn Ads", 5), ("Purchased List", 4), ("Event", 3),
)  # fmt: skip

# Lifecycle stages as the source systems hold them before abmsync's rules run.
LEAD_STAGES = (
    ("subscriber", 28), ("lead", 42), ("mql", 9), ("sal", 4), ("sql", 2),
    ("recycled", 10), ("disqualified", 5),
)  # fmt: skip
CONTACT_STAGES = (
    ("lead", 35), ("mql", 8), ("sal", 4), ("sql", 6), ("opportunity", 3),
    ("customer", 30), ("recycled", 10), ("disqualified", 4),
)  # fmt: skip

# Touchpoint types in abmsync.schema.TouchpointType order, with relative rates for
# ordinary people and for "hot" ones (at an account with an open opportunity).
TOUCHPOINT_RATES = (
    # type, ordinary, hot, source system
    ("email_open", 44.0, 33.0, "hubspot"),
    ("email_click", 11.0, 12.0, "hubspot"),
    ("form_submit", 2.2, 3.5, "hubspot"),
    ("page_view", 30.0, 33.0, "hubspot"),
    ("webinar", 1.6, 2.5, "hubspot"),
    ("download", 3.0, 3.5, "hubspot"),
    ("event", 0.8, 1.5, "hubspot"),
    ("meeting", 0.4, 3.5, "salesforce"),
    ("call", 0.8, 5.0, "salesforce"),
    ("unsubscribe", 0.0, 0.0, "hubspot"),  # only as an unsubscribed person's last touch
    ("email_bounce", 0.8, 0.5, "hubspot"),
)
EMAIL_TYPES = ("email_open", "email_click", "unsubscribe", "email_bounce")

# url path, weight for ordinary people, weight for hot people
PAGE_PATHS = (
    ("/", 12, 8), ("/pricing", 7, 16), ("/product/platform", 6, 7),
    ("/product/lead-scoring", 5, 6), ("/product/integrations", 4, 5),
    ("/product/account-insights", 3, 4), ("/solutions/manufacturing", 3, 3),
    ("/solutions/financial-services", 2, 2), ("/customers", 3, 4),
    ("/customers/case-study-nordwind-logistics", 1, 2), ("/blog/what-is-an-mql", 4, 2),
    ("/blog/lead-scoring-best-practices", 4, 2), ("/blog/abm-tiers-explained", 3, 2),
    ("/blog/buying-committee-coverage", 3, 2), ("/blog/gdpr-consent-for-b2b", 2, 1),
    ("/blog/closing-the-loop-on-revenue", 2, 1), ("/blog/release-notes-2026", 2, 1),
    ("/docs/getting-started", 3, 3), ("/docs/api", 2, 3), ("/docs/connectors/salesforce", 1, 2),
    ("/docs/connectors/hubspot", 1, 2), ("/careers", 3, 1), ("/about", 2, 1),
    ("/security", 1, 2), ("/partners", 1, 1), ("/events", 1, 1), ("/webinars", 1, 1),
    ("/demo-request", 1.5, 3), ("/contact-sales", 1, 2.5),
)  # fmt: skip
FORM_PATHS = (
    ("/newsletter-signup", 30, 10), ("/whitepaper/predictive-lead-scoring", 12, 8),
    ("/whitepaper/abm-playbook", 10, 8), ("/webinar-registration", 18, 12),
    ("/demo-request", 10, 25), ("/free-trial", 9, 12), ("/event-registration", 6, 6),
    ("/contact-sales", 2.5, 10),
)  # fmt: skip
DOWNLOAD_PATHS = (
    ("/resources/whitepaper-predictive-lead-scoring.pdf", 5, 4),
    ("/resources/ebook-abm-playbook.pdf", 5, 4), ("/resources/datasheet-platform.pdf", 3, 6),
    ("/resources/datasheet-integrations.pdf", 2, 4), ("/resources/roi-calculator.xlsx", 1, 4),
    ("/resources/analyst-report-2026.pdf", 2, 3), ("/resources/checklist-gdpr-consent.pdf", 2, 1),
)  # fmt: skip
UTM_SUFFIX = "?utm_source=newsletter&utm_medium=email"

NURTURE_CAMPAIGNS = (
    "Nurture - Welcome Series", "Nurture - Manufacturing Track", "Nurture - Software Track",
    "Nurture - Financial Services Track", "Nurture - Re-engagement", "Nurture - Trial Follow-up",
    "Nurture - Pricing Follow-up", "Nurture - Customer Onboarding",
)  # fmt: skip
WEBINAR_TOPICS = (
    "Predictive Lead Scoring", "ABM for Industrial B2B", "Closing the Loop to Revenue",
    "Buying Committees in Practice", "GDPR-safe Nurture",
)  # fmt: skip
EVENTS = (
    "Hannover Messe", "Dreamforce", "SaaStr Annual", "INBOUND", "DMEXCO",
    "Customer Roadshow DACH", "Field Marketing Dinner London",
)  # fmt: skip

OPEN_OPPORTUNITY_STAGES = (
    ("Prospecting", 20), ("Qualification", 25), ("Needs Analysis", 20), ("Proposal", 20),
    ("Negotiation", 15),
)  # fmt: skip
OPPORTUNITY_PRODUCTS = (
    "Platform", "Lead Scoring Add-on", "Expansion", "Pilot", "Enterprise License", "Renewal",
)  # fmt: skip

# Letters that lose their accent when a name becomes an email address or a domain.
TRANSLITERATION = {
    "ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ø": "o",
    "æ": "ae", "å": "a", "ł": "l", "Ł": "L",
}  # fmt: skip
