"""What a production says about where each fact it shows comes from (export, export_objects).

OpenAI's delivered log lines are proven (verify traces them to raw files hashing to OpenAI's
SHA-256, and their chains to an anchor); the REST answers (users, GPTs, workspace objects) are
on the tap's chains (unaltered since archived) but no OpenAI hash covers them; some values are the
tap's own record. Every page, RSMF file
and production_manifest.json says which is which, and a value that is the tap's record is
labelled where it is shown.
"""

from __future__ import annotations

UNPROVEN_MARK = "NOT PROVEN: named in the verify report"
"""What marks a message, attachment or object a finding or a limitation of verify names (pages,
RSMF, CSVs)."""
TAP_RECORD = "as the tap recorded it, not proven"
"""The label of a value that is the tap's record (verify.UNPROVEN_COLUMNS, an unchained file)."""
NOT_PROVEN_NAME = (
    "user names are the users listing as archived (a REST answer: chained by the tap, no OpenAI "
    "hash): not proven"
)
"""What a user's name is: no delivered event carries one."""
PROVENANCE = {
    "messages": (
        "Messages (text, time, author, conversation title, user ids and emails) are rendered "
        "from the log lines OpenAI delivered, which verify traces to raw files hashing to the "
        "SHA-256 OpenAI gave; included attachment bytes hash to their chained files record. "
        f"Not proven: {NOT_PROVEN_NAME}."
    ),
    "objects": (
        "Canvases, memories and GPTs are rendered from the REST answers of the API as archived "
        "(raw_item): verify finds them consistent with their rows and, by the chains of the tap, "
        "unaltered since they were archived, but no OpenAI hash covers what the API served: not "
        "proven. The owner and type of a canvas, the GPT of a "
        "configuration and the bytes and status of a knowledge file are the record of the tap, "
        "not proven."
    ),
}
"""Where the facts of a production come from, by what they render (plain text: no quote, no
``&`` or ``<``, the same on an HTML page as in JSON)."""
RAW_LESS = (
    "Messages of log files whose raw bytes the archive does not hold (file_content: none, or "
    "missing or unreadable: see the findings) are checked against their own archived event "
    "only, not traced to the SHA-256 OpenAI gave: each is marked NOT PROVEN."
)
"""Said after the messages' provenance when verify names a log file's raw bytes (check ``raw``)."""


def messages_provenance(raw_less: bool) -> str:
    """Return where messages come from (``raw_less``: some log files kept no raw bytes)."""
    return PROVENANCE["messages"] + (" " + RAW_LESS if raw_less else "")
