"""Fixed vocabularies of generated data: names, topics, sentences, models, actions, places."""

from __future__ import annotations

FIRST = [
    "Dana",
    "Ravi",
    "Mei",
    "Lars",
    "Amara",
    "Jonas",
    "Sofia",
    "Kenji",
    "Leila",
    "Tomás",
    "Nadia",
    "Owen",
    "Priya",
    "Yusuf",
    "Elena",
    "Marco",
    "Ingrid",
    "Kwame",
    "Hana",
    "Luca",
]
LAST = [
    "Ito",
    "Patel",
    "Chen",
    "Berg",
    "Okafor",
    "Weber",
    "Rossi",
    "Tanaka",
    "Haddad",
    "García",
    "Novak",
    "Byrne",
    "Iyer",
    "Demir",
    "Petrova",
    "Silva",
    "Lund",
    "Mensah",
    "Kim",
    "Moretti",
]
TOPICS = [
    "Quarterly vendor summary",
    "Open items",
    "Travel policy question",
    "SQL query review",
    "Draft customer email",
    "Onboarding checklist",
    "Budget variance",
    "Release notes",
    "Contract clause comparison",
    "Python script bug",
    "Meeting recap",
    "Market sizing",
    "Translate product brief",
    "Incident postmortem",
    "Hiring plan",
    "Pricing table",
]
SENTENCES = [
    "Summarise the attached document in five bullet points.",
    "Can you rewrite this paragraph to sound more formal?",
    "Here are the three open items from yesterday's review.",
    "The main risk is the dependency on the upstream vendor.",
    "Let me know if you want a shorter version.",
    "Please check the numbers in the second table again.",
    "Ünïcödé and emoji are fine too: 📎 ✅ — “quoted” text.",
    "The query joins orders to customers on customer_id and filters by region.",
    "I would start with a small pilot before rolling it out to everyone.",
    "Here is a draft you can adapt:\n\n- point one\n- point two",
    "What is our policy on expenses above 500 EUR?",
    'Line one\nLine two with a tab\tand a backslash \\ and "quotes".',
    "The total comes to 12,480 after the discount is applied.",
    "Could you compare the two contract versions and list the differences?",
    "Sure — here is the corrected function with tests.",
    "The meeting is moved to Thursday at 10:00 CET.",
]
MODELS = ["gpt-5-5", "gpt-5-thinking", "gpt-4o", "o3"]
CLIENT_TYPES = ["desktop_web", "macos_app", "ios_app", "android_app", "windows_app", "unknown"]
URLS = ["https://example.org/status", "https://example.com/policy", "https://example.net/docs/api"]
AUDIT_ACTIONS = [
    "USER_ROLE_UPDATED",
    "WORKSPACE_TOGGLE_FEATURE",
    "INVITE_SEND",
    "ROLE_CREATED",
    "GROUP_MEMBER_ADDED",
    "LIST_WORKSPACE_LOG_FILES",
]
AUTH_ACTIONS = [
    "login_success",
    "native_login_success",
    "logout_success",
    "login_failed",
    "token_issued",
    "signup_success",
]
CODEX_EVENTS = [
    "PROMPT_SENT",
    "PROMPT_RESPONSE_RECEIVED",
    "TOOL_CALL_COMPLETED",
    "TOOL_CALL_FAILED",
    "TOOL_DECISION",
    "APP_MCP_CALL",
]
CODEX_CLIENTS = ["CODEX_CLI", "CODEX_WEB", "CODEX_IDE_VSCODE"]
#: ``client_ip_details`` of published samples: (country, city, region, code, asn, lat, lon).
PLACES = [
    ("DE", "Berlin", "Berlin", "BE", "3320", "52.52000", "13.40500"),
    ("US", "Ashburn", "Virginia", "VA", "14618", "39.04370", "-77.48750"),
    ("GB", "London", "England", "ENG", "5089", "51.50740", "-0.12780"),
    ("JP", "Tokyo", "Tokyo", "13", "2516", "35.68950", "139.69170"),
]


def filler(n: int) -> str:
    """Deterministic ASCII text of exactly ``n`` bytes."""
    unit = " ".join(x for x in SENTENCES if x.isascii()) + " "
    return (unit * (n // len(unit) + 1))[:n]


LONE_SURROGATE = "\ud83d"
"""Half an emoji (oddity ``lone_surrogate_text``): JSON can carry it escaped, UTF-8 cannot."""
