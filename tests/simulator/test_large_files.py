"""Upload bytes are derived chunk by chunk: any size works, nothing large is held (issue #8)."""

from __future__ import annotations

import hashlib
from itertools import islice

import pytest
import requests

from chatgpt_compliance_simulator import Quirks
from chatgpt_compliance_simulator.model import CHUNK, USER_FILE, Attachment
from tests.support.simulators import Client


def _att(size: int, name: str = "a.pdf", mime: str = "application/pdf") -> Attachment:
    return Attachment("file-x", name, mime, size, USER_FILE, 0, content_seed=42)


def test_any_size_is_generated_lazily():
    """A 1 TiB upload (``randbytes`` overflowed above ~268 MB) streams its first chunks."""
    a = _att(1 << 40)
    header, first, second = islice(a.iter_body(), 3)
    assert header == b"%PDF-1.7\n"
    assert len(first) == len(second) == CHUNK
    assert first != second


@pytest.mark.parametrize(
    ("size", "name", "mime"),
    [
        (0, "a.pdf", "application/pdf"),
        (3, "a.pdf", "application/pdf"),
        (CHUNK * 2 + 17, "a.pdf", "application/pdf"),
        (CHUNK + 5, "a.txt", "text/plain"),
    ],
)
def test_exact_size_deterministic_and_hashed_by_streaming(size, name, mime):
    a, b = _att(size, name, mime), _att(size, name, mime)
    body = a.body()
    assert len(body) == size
    assert body == b.body()
    assert a.sha256 == hashlib.sha256(body).hexdigest()
    if mime == "text/plain":
        assert body.isascii()


def test_large_upload_streams_over_http(make):
    """A multi-chunk upload downloads byte-exact; a truncated stream stops at half."""
    sim = make(
        conversations=2,
        attachment_rate=1.0,
        attachment_size=(2 * CHUNK + 1000, 3 * CHUNK),
        quirks=Quirks(expired_attachments=False),
    )
    c = Client(sim)
    gt = sim.ground_truth()
    fid, a = next((k, v) for k, v in gt["attachments"].items() if not v["needs_conversation_id"])
    url = c.ws(f"/users/{a['user_id']}/files/{fid}")
    r = c.get(url)
    assert r.status_code == 307
    got = requests.get(r.headers["Location"], timeout=30)
    assert got.status_code == 200
    assert len(got.content) == a["size"] > 2 * CHUNK
    assert hashlib.sha256(got.content).hexdigest() == a["sha256"]
    sim.inject("signed", truncate=True)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(c.get(url).headers["Location"], timeout=30).content  # noqa: B018
