{#-
  One row per conversation, with aggregates computed from every message in the archive, so they
  stay true after any number of incremental (upserting or appending) loads.
  Title: the non-empty title seen at the latest time, from the conversation record (title_seen_at)
  or from any message event (its timestamp).
-#}
with messages as (
    select * from {{ ref('stg_messages') }}
),

records as (
    select * from {{ ref('stg_conversations') }}
),

files as (
    select * from {{ ref('stg_files') }}
),

title_candidates as (
    select conversation_id, title, title_seen_at as seen_at, 0 as preference
    from records
    where title is not null
    union all
    select conversation_id, event_conversation_title, event_timestamp, 1
    from messages
    where event_conversation_title is not null
),

latest_title as (
    select distinct on (conversation_id)
        conversation_id, title, seen_at as title_seen_at
    from title_candidates
    order by conversation_id, seen_at desc nulls last, preference
),

message_stats as (
    select
        m.conversation_id,
        min(m.workspace_id) as workspace_id,
        count(*) as message_count,
        count(*) filter (where m.author_type = 'user') as user_message_count,
        count(*) filter (where m.author_type = 'assistant') as assistant_message_count,
        count(*) filter (where m.author_type = 'tool') as tool_message_count,
        min(m.sent_at) as first_message_at,
        max(m.sent_at) as last_message_at,
        sum(jsonb_array_length(m.attachment_ids)) as attachment_reference_count,
        count(*) filter (
            where m.parent_message_id is not null and p.message_id is null
        ) as messages_with_parent_not_archived
    from messages as m
    left join messages as p
        on p.message_id = m.parent_message_id
    group by m.conversation_id
),

first_user_message as (
    select distinct on (conversation_id)
        conversation_id, actor_user_id, actor_email
    from messages
    where author_type = 'user' and actor_user_id is not null
    order by conversation_id, sent_at nulls last, message_id
),

file_stats as (
    select
        conversation_id,
        count(*) as attachment_count,
        count(*) filter (where status = 'archived') as attachments_archived,
        count(*) filter (where status is distinct from 'archived') as attachments_not_archived
    from files
    where conversation_id is not null
    group by conversation_id
),

conversation_ids as (
    select conversation_id from records
    union
    select conversation_id from messages where conversation_id is not null
)

select
    coalesce(r.workspace_id, s.workspace_id) as workspace_id,
    ids.conversation_id,
    t.title,
    t.title_seen_at,
    coalesce(r.created_at, s.first_message_at) as created_at,
    coalesce(r.owner_user_id, u.actor_user_id) as owner_user_id,
    coalesce(r.owner_email, u.actor_email) as owner_email,
    r.is_pinned,
    r.is_temporary_chat,
    r.gpt_id,
    r.gpt_name,
    r.project_id,
    r.project_name,
    r.mode,
    coalesce(s.message_count, 0) as message_count,
    coalesce(s.user_message_count, 0) as user_message_count,
    coalesce(s.assistant_message_count, 0) as assistant_message_count,
    coalesce(s.tool_message_count, 0) as tool_message_count,
    s.first_message_at,
    s.last_message_at,
    coalesce(f.attachment_count, 0) as attachment_count,
    coalesce(f.attachments_archived, 0) as attachments_archived,
    coalesce(f.attachments_not_archived, 0) as attachments_not_archived,
    coalesce(s.messages_with_parent_not_archived, 0) as messages_with_parent_not_archived
from conversation_ids as ids
left join records as r on r.conversation_id = ids.conversation_id
left join message_stats as s on s.conversation_id = ids.conversation_id
left join latest_title as t on t.conversation_id = ids.conversation_id
left join first_user_message as u on u.conversation_id = ids.conversation_id
left join file_stats as f on f.conversation_id = ids.conversation_id
