{#-
  One row per attachment: every files record, plus any attachment a message references that has
  no files record (status no_files_record). is_archived is true only when the bytes are in the
  archive (inline, in file_parts, or in storage) with a SHA-256.
-#}
{%- set parts_rel = optional_source('file_parts') -%}
{%- set parts_cols = column_names(parts_rel) -%}
with messages as (
    select * from {{ ref('stg_messages') }}
),

files as (
    select * from {{ ref('stg_files') }}
),

references_ as (
    select distinct
        m.message_id, m.conversation_id, m.sent_at, m.actor_user_id, r.attachment_id
    from messages as m
    cross join lateral jsonb_array_elements_text(m.attachment_ids) as r (attachment_id)
),

reference_stats as (
    select
        attachment_id,
        count(distinct message_id) as referencing_messages,
        min(sent_at) as first_referenced_at,
        (array_agg(message_id order by sent_at nulls last, message_id))[1] as first_message_id,
        (array_agg(conversation_id order by sent_at nulls last, message_id))[1]
            as first_conversation_id,
        (array_agg(actor_user_id order by sent_at nulls last, message_id))[1] as first_user_id
    from references_
    group by attachment_id
),

event_names as (
    select distinct on (f ->> 'id')
        f ->> 'id' as attachment_id, f ->> 'name' as name, f ->> 'mime_type' as mime_type
    from messages as m
    cross join lateral jsonb_array_elements(m.event_files) as f
    where jsonb_typeof(f) = 'object'
    order by f ->> 'id', m.sent_at nulls last
),

parts as (
{%- if parts_rel is not none and 'file_id' in parts_cols %}
    select file_id as attachment_id, count(distinct {{ opt(parts_cols, 'part_index', 'bigint') }}) as parts_archived
    from {{ parts_rel }}
    group by file_id
{%- else %}
    select cast(null as text) as attachment_id, cast(0 as bigint) as parts_archived
    where false
{%- endif %}
),

ids as (
    select attachment_id from files
    union
    select attachment_id from reference_stats
)

select
    coalesce(f.workspace_id, m.workspace_id) as workspace_id,
    ids.attachment_id,
    coalesce(f.conversation_id, r.first_conversation_id) as conversation_id,
    c.title as conversation_title,
    coalesce(f.message_id, r.first_message_id) as message_id,
    coalesce(f.user_id, r.first_user_id) as user_id,
    coalesce(f.name, e.name) as name,
    coalesce(f.mime_type, e.mime_type) as mime_type,
    f.size,
    f.sha256,
    coalesce(f.status, 'no_files_record') as status,
    f.status_reason,
    (
        f.status = 'archived'
        and f.sha256 is not null
        and (
            f.storage_uri is not null
            or f.has_inline_content
            or (f.part_count > 0 and coalesce(p.parts_archived, 0) = f.part_count)
        )
    ) as is_archived,
    case
        when f.storage_uri is not null then 'storage'
        when f.part_count > 0 then 'file_parts'
        when f.has_inline_content then 'inline'
    end as content_location,
    f.storage_uri,
    f.part_count,
    coalesce(p.parts_archived, 0) as parts_archived,
    f.archived_at,
    r.first_referenced_at,
    coalesce(r.referencing_messages, 0) as referencing_messages,
    f.log_file_id
from ids
left join files as f on f.attachment_id = ids.attachment_id
left join reference_stats as r on r.attachment_id = ids.attachment_id
left join event_names as e on e.attachment_id = ids.attachment_id
left join parts as p on p.attachment_id = ids.attachment_id
left join messages as m on m.message_id = coalesce(f.message_id, r.first_message_id)
left join {{ ref('conversations') }} as c
    on c.conversation_id = coalesce(f.conversation_id, r.first_conversation_id)
