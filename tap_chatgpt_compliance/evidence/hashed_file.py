"""A produced file written piece by piece, hashed as it goes (SHA-256 and the load file's MD5)."""

from __future__ import annotations

import hashlib
from pathlib import Path


class HashedFile:
    """A file written piece by piece, hashed as it goes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = path.open("wb")
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5()  # noqa: S324 - the load file's MD5HASH field
        self.size = 0

    def write(self, text: str) -> None:
        r"""Write text as UTF-8; a lone surrogate (which UTF-8 cannot hold) as ``\ud83d``.

        Only a lone surrogate fails to encode: in a JSON string its escape is the same
        character; on a page or in a CSV cell it shows as the other controls do.
        """
        self.write_bytes(text.encode("utf-8", "backslashreplace"))

    def write_bytes(self, data: bytes) -> None:
        """Write bytes and add them to the hashes."""
        self.handle.write(data)
        self.sha256.update(data)
        self.md5.update(data)
        self.size += len(data)

    def close(self) -> tuple[str, str, int]:
        """Close the file: its SHA-256, MD5 and size."""
        self.handle.close()
        return self.sha256.hexdigest(), self.md5.hexdigest(), self.size
