"""Which storage URIs named by an archive the evidence tools open (local paths, object stores).

verify and export open a ``storage_uri`` only through :func:`refused_uri` (evidence/sources.py);
the tap warns when its ``file_storage_url`` is one they would refuse (settings.py).
"""

from __future__ import annotations

STORAGE_SCHEMES = frozenset(
    {"file", "local", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"}
)
"""The object stores (and local paths) whose URIs verify and export open: where the tap's
``file_storage_url`` puts attachments and raw log files."""


def refused_uri(uri: str) -> str | None:
    """Return why a storage URI named by the archive is not opened, or None when it may be.

    A local path, or a URL of an object store (:data:`STORAGE_SCHEMES`). Refused: web and
    other network protocols (``http://``, ``ftp://``, ``ssh://``…), fsspec's chained
    (``a::b``) and in-memory or archive URLs: an altered record must not make the reader fetch
    an address of the attacker's choosing.
    """
    if "::" in uri:
        return "a chained fsspec URL is no object store's"
    scheme, separator, _ = uri.partition("://")
    if not separator:
        return None  # a local path
    if scheme.lower() not in STORAGE_SCHEMES:
        return (
            f"{scheme[:20]}:// is no object store's (verify and export open local paths and "
            f"{', '.join(f'{s}://' for s in sorted(STORAGE_SCHEMES - {'file', 'local'}))} only)"
        )
    return None
