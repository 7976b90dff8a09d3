{#- One row per message id (the latest loaded copy), with types normalised. -#}
{%- set src = source('archive', 'messages') -%}
{%- set cols = column_names(src) -%}
with ranked as (
    select
        m.*,
        row_number() over (partition by m.id order by {{ latest_first(cols) }}) as dedupe_rank
    from {{ src }} as m
),

typed as (
    select
        id as message_id,
        {{ opt(cols, 'workspace_id') }} as workspace_id,
        conversation_id,
        nullif({{ opt(cols, 'parent_id') }}, '') as parent_id,
        nullif({{ opt(cols, 'previous_message_id') }}, '') as previous_message_id,
        {{ utc(opt(cols, 'created_at', 'timestamp')) }} as created_at,
        {{ opt(cols, 'created_at_source') }} as created_at_source,
        {{ utc(opt(cols, 'event_timestamp', 'timestamp')) }} as event_timestamp,
        {{ opt(cols, 'author_type') }} as author_type,
        {{ opt(cols, 'author_model') }} as author_model,
        {{ opt(cols, 'author_client_type') }} as author_client_type,
        {{ json_array(opt(cols, 'author_tools_used')) }} as author_tools_used,
        {{ opt(cols, 'actor_user_id') }} as actor_user_id,
        {{ opt(cols, 'actor_email') }} as actor_email,
        {{ opt(cols, 'content_type') }} as content_type,
        {{ opt(cols, 'content_text') }} as content_text,
        {{ json_text(opt(cols, 'content_json')) }} as content_json_text,
        {{ json_value(opt(cols, 'content_json')) }} as content_json,
        {{ json_array(opt(cols, 'attachment_ids')) }} as attachment_ids,
        {{ json_value(opt(cols, 'event')) }} as event,
        {{ opt(cols, 'event_id') }} as event_id,
        {{ opt(cols, 'log_file_id') }} as log_file_id
    from ranked
    where dedupe_rank = 1
)

select
    message_id,
    workspace_id,
    conversation_id,
    -- the message this one answers: parent_id, else previous_message_id
    coalesce(parent_id, previous_message_id) as parent_message_id,
    created_at,
    created_at_source,
    event_timestamp,
    -- the time a reader sees: the message's own, else its event's
    coalesce(created_at, event_timestamp) as sent_at,
    author_type,
    author_model,
    author_client_type,
    author_tools_used,
    actor_user_id,
    actor_email,
    content_type,
    content_text,
    content_json_text,
    content_json,
    attachment_ids,
    case when jsonb_typeof(event -> 'message' -> 'files') = 'array'
         then event -> 'message' -> 'files' else '[]'::jsonb end as event_files,
    nullif(btrim(event -> 'conversation' ->> 'title'), '') as event_conversation_title,
    event_id,
    log_file_id
from typed
