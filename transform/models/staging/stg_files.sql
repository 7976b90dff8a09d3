{#- One row per attachment id (the latest loaded copy); the bytes themselves are left out. -#}
{%- set src = source('archive', 'files') -%}
{%- set cols = column_names(src) -%}
with ranked as (
    select
        f.*,
        row_number() over (partition by f.id order by {{ latest_first(cols) }}) as dedupe_rank
    from {{ src }} as f
)

select
    id as attachment_id,
    {{ opt(cols, 'workspace_id') }} as workspace_id,
    {{ opt(cols, 'conversation_id') }} as conversation_id,
    {{ opt(cols, 'message_id') }} as message_id,
    {{ opt(cols, 'user_id') }} as user_id,
    {{ opt(cols, 'name') }} as name,
    {{ opt(cols, 'mime_type') }} as mime_type,
    {{ opt(cols, 'size', 'bigint') }} as size,
    lower({{ opt(cols, 'sha256') }}) as sha256,
    {{ opt(cols, 'status') }} as status,
    {{ opt(cols, 'status_reason') }} as status_reason,
    {{ utc(opt(cols, 'archived_at', 'timestamp')) }} as archived_at,
    {{ opt(cols, 'storage_uri') }} as storage_uri,
    ({{ opt(cols, 'content_base64') }}) is not null as has_inline_content,
    {{ opt(cols, 'part_count', 'bigint') }} as part_count,
    {{ opt(cols, 'log_file_id') }} as log_file_id
from ranked
where dedupe_rank = 1
