"""The REST chains name each stream's primary key as the stream declares it (rest_chain.KEYS).

The stored files (rest_chain.FILE_FIELDS: no item served, their record's fields chained) too.

A hole in an upserting archive is accounted for by the key of the record it links to: a key
that is not the target's upsert key would excuse removed rows, or flag honest upserts.
"""

from __future__ import annotations

from tap_chatgpt_compliance.logfiles import rest_chain
from tap_chatgpt_compliance.tap import TapChatGPTCompliance

CONFIG = {"api_key": "sk-test", "workspace_id": "0197041d-4efd-4ad9-bff8-9bfa0c35bddf"}


def test_every_rest_stream_is_chained_by_its_own_primary_key() -> None:
    tap = TapChatGPTCompliance(config=CONFIG, validate_config=False)
    chained = {}
    for name, stream in tap.streams.items():
        properties = stream.schema["properties"]
        # A REST stream (the item as the API served it), or a stored file chained by its fields.
        if "raw_item" in properties or name in rest_chain.FILE_FIELDS:
            chained[name] = tuple(stream.primary_keys or ())
            for column in rest_chain.CHAIN_COLUMNS:
                assert column in properties, (name, column)
    assert chained == rest_chain.KEYS
