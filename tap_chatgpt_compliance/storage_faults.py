"""The fix of a storage error that fits its cause (throttling, full disk, refused, unreachable).

A store that asks to slow down (S3's 503 SlowDown) was told to "fix file_storage_url": the URL
is right, the fix is to rerun later. Every message that ends a run on a storage error takes its
fix from :func:`storage_fix`.
"""

from __future__ import annotations

import errno
import re
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterator

_THROTTLED = re.compile(
    r"SlowDown|reduce your request rate|Throttl|TooManyRequests|RequestLimitExceeded"
    r"|Too Many Requests|\b(?:429|503)\b",
    re.IGNORECASE,
)
_FULL = re.compile(r"No space left|Disk quota|QuotaExceeded|EntityTooLarge", re.IGNORECASE)
_REFUSED = re.compile(
    r"AccessDenied|Forbidden|\b403\b|InvalidAccessKeyId|SignatureDoesNotMatch|ExpiredToken"
    r"|Permission denied|Read-only file system",
    re.IGNORECASE,
)
_MISSING = re.compile(r"NoSuchBucket|No such file or directory|NotFound", re.IGNORECASE)
_UNREACHABLE = re.compile(
    r"Could not connect|EndpointConnectionError|Connection refused|timed out|ConnectTimeout"
    r"|Name or service not known|ServerDisconnected|Connection reset",
    re.IGNORECASE,
)
_ERRNO_CAUSES = {
    errno.EBUSY: "throttled",  # s3fs's translation of S3's 503 SlowDown
    errno.ENOSPC: "full",
    errno.EDQUOT: "full",
    errno.EFBIG: "full",
    errno.EACCES: "refused",
    errno.EPERM: "refused",
    errno.EROFS: "refused",
    errno.ENOENT: "missing",
    errno.ECONNREFUSED: "unreachable",
    errno.ETIMEDOUT: "unreachable",
    errno.ECONNRESET: "unreachable",
}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """Yield ``exc`` and the errors it was raised from or while handling (each once)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and not any(current is error for error in seen):
        seen.append(current)
        yield current
        current = current.__cause__ or current.__context__


def storage_cause(exc: BaseException) -> str:
    """Return a storage error's cause.

    One of throttled, full, refused, missing, unreachable, or unknown.
    """
    errors = list(_chain(exc))
    for error in errors:
        code = getattr(error, "errno", None)
        if isinstance(code, int) and code in _ERRNO_CAUSES:
            return _ERRNO_CAUSES[code]
    text = " ".join(f"{type(error).__name__}: {error}" for error in errors)
    for cause, pattern in (
        ("throttled", _THROTTLED),
        ("full", _FULL),
        ("refused", _REFUSED),
        ("missing", _MISSING),
        ("unreachable", _UNREACHABLE),
    ):
        if pattern.search(text):
            return cause
    return "unknown"


def storage_fix(exc: BaseException, setting: str) -> str:
    """Return the sentence that says how to fix a storage error of ``setting``, by its cause."""
    options = setting.replace("_url", "_options")
    fixes = {
        "throttled": (
            f"The store is throttling requests (S3 503 SlowDown: too many requests at once); "
            f"{setting} is right. Rerun later; if it persists, run fewer writers on the bucket "
            "or give this archive a prefix of its own."
        ),
        "full": (
            f"The store is full (no space, or over quota): free space at {setting} (and in the "
            "temporary folder) or raise the quota, then rerun."
        ),
        "refused": (
            f"The store refused the write: check the permissions at {setting} and the "
            f"credentials ({options} or the environment), then rerun."
        ),
        "missing": (
            f"The bucket or folder of {setting} is gone or was never there: check {setting}, "
            "then rerun."
        ),
        "unreachable": (
            f"The store could not be reached: check the endpoint ({options}), DNS, proxy and "
            "firewall, or rerun later."
        ),
    }
    return fixes.get(
        storage_cause(exc),
        f"Check {setting} (permissions, free space, credentials) and the temporary folder, "
        "then rerun.",
    )
