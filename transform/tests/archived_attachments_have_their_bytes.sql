-- An attachment with status archived has a SHA-256 and its bytes somewhere in the archive:
-- inline, in every file_parts record, or at its storage_uri.
select attachment_id, status, sha256, content_location, part_count, parts_archived
from {{ ref('attachments') }}
where status = 'archived'
    and (not is_archived or is_archived is null or sha256 !~ '^[0-9a-f]{64}$')
