{#-
  One row per conversation id (the latest loaded copy). Only facts of the conversation itself:
  the per-run columns of older tap versions (message_count_seen, first/last_message_seen_at)
  are left out on purpose; the conversations model computes them from the messages.
-#}
{%- set src = source('archive', 'conversations') -%}
{%- set cols = column_names(src) -%}
with ranked as (
    select
        c.*,
        row_number() over (partition by c.id order by {{ latest_first(cols) }}) as dedupe_rank
    from {{ src }} as c
)

select
    id as conversation_id,
    {{ opt(cols, 'workspace_id') }} as workspace_id,
    nullif(btrim({{ opt(cols, 'title') }}), '') as title,
    {{ utc(opt(cols, 'title_seen_at', 'timestamp')) }} as title_seen_at,
    {{ utc(opt(cols, 'created_at', 'timestamp')) }} as created_at,
    {{ opt(cols, 'owner_user_id') }} as owner_user_id,
    {{ opt(cols, 'owner_email') }} as owner_email,
    {{ opt(cols, 'is_pinned', 'boolean') }} as is_pinned,
    {{ opt(cols, 'is_temporary_chat', 'boolean') }} as is_temporary_chat,
    {{ opt(cols, 'gpt_id') }} as gpt_id,
    {{ opt(cols, 'gpt_name') }} as gpt_name,
    {{ opt(cols, 'project_id') }} as project_id,
    {{ opt(cols, 'project_name') }} as project_name,
    {{ opt(cols, 'mode') }} as mode
from ranked
where dedupe_rank = 1
