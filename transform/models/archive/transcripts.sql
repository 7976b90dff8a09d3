{#-
  One row per message, in thread order within each conversation: message_seq 1, 2, 3, …

  Order: parent_message_id chains are followed (a reply always comes after the message it
  answers, even when clocks disagree); then time (the message's created_at, else its event's
  timestamp), then event timestamp and id as tie-breakers. A message whose parent is not in the
  archive starts a thread of its own at its own time.
-#}
with recursive messages as (
    select * from {{ ref('stg_messages') }}
),

links as (
    select
        m.message_id,
        m.conversation_id,
        m.sent_at,
        case when p.message_id <> m.message_id then p.message_id end as parent_in_archive
    from messages as m
    left join messages as p
        on p.message_id = m.parent_message_id
        and p.conversation_id is not distinct from m.conversation_id
),

-- Every message has at most one parent, so the walk from the roots reaches each message once and
-- cannot loop (a cycle, if the data ever had one, is unreachable and handled below).
thread (message_id, thread_depth, thread_time) as (
    select message_id, 0, sent_at
    from links
    where parent_in_archive is null
    union all
    select child.message_id, parent.thread_depth + 1, greatest(child.sent_at, parent.thread_time)
    from links as child
    inner join thread as parent on child.parent_in_archive = parent.message_id
),

ordered as (
    select
        m.*,
        l.parent_in_archive is not null as parent_archived,
        coalesce(t.thread_depth, 0) as thread_depth,
        row_number() over (
            partition by m.conversation_id
            order by
                coalesce(t.thread_time, m.sent_at) nulls last,
                coalesce(t.thread_depth, 0),
                m.sent_at nulls last,
                m.event_timestamp nulls last,
                m.message_id
        ) as message_seq
    from messages as m
    inner join links as l on l.message_id = m.message_id
    left join thread as t on t.message_id = m.message_id
),

references_ as (
    select distinct on (m.message_id, r.attachment_id)
        m.message_id, r.attachment_id, r.position
    from messages as m
    cross join lateral jsonb_array_elements_text(m.attachment_ids)
        with ordinality as r (attachment_id, position)
    order by m.message_id, r.attachment_id, r.position
),

event_file_names as (
    select distinct on (m.message_id, f ->> 'id')
        m.message_id, f ->> 'id' as attachment_id, f ->> 'name' as name
    from messages as m
    cross join lateral jsonb_array_elements(m.event_files) as f
    where jsonb_typeof(f) = 'object'
    order by m.message_id, f ->> 'id'
),

message_attachments as (
    select
        r.message_id,
        count(*) as attachment_count,
        array_agg(coalesce(f.name, e.name, r.attachment_id) order by r.position)
            as attachment_names,
        jsonb_agg(
            jsonb_build_object(
                'id', r.attachment_id,
                'name', coalesce(f.name, e.name),
                'mime_type', f.mime_type,
                'size', f.size,
                'sha256', f.sha256,
                'status', coalesce(f.status, 'no_files_record'),
                'status_reason', f.status_reason
            )
            order by r.position
        ) as attachments,
        string_agg(
            coalesce(f.name, e.name, r.attachment_id)
            || ' [' || coalesce(f.status, 'no_files_record')
            || coalesce(', sha256 ' || left(f.sha256, 12) || '…', '') || ']',
            '; ' order by r.position
        ) as attachments_summary,
        bool_and(coalesce(f.status = 'archived', false)) as all_attachments_archived
    from references_ as r
    left join {{ ref('stg_files') }} as f on f.attachment_id = r.attachment_id
    left join event_file_names as e
        on e.message_id = r.message_id and e.attachment_id = r.attachment_id
    group by r.message_id
)

select
    o.workspace_id,
    o.conversation_id,
    c.title as conversation_title,
    o.message_seq,
    o.message_id,
    o.parent_message_id,
    o.parent_archived,
    o.thread_depth,
    o.sent_at,
    o.created_at,
    o.created_at_source,
    o.event_timestamp,
    o.author_type,
    o.author_model,
    case o.author_type
        when 'user' then coalesce(u.user_name, o.actor_email, o.actor_user_id, 'user')
        when 'assistant' then 'ChatGPT' || coalesce(' (' || o.author_model || ')', '')
        when 'tool' then 'tool' || coalesce(': ' || (o.author_tools_used ->> 0), '')
        else coalesce(o.author_type, 'unknown')
    end as author,
    o.actor_user_id,
    o.actor_email,
    o.content_type,
    case
        when o.content_text is not null then 'text'
        when o.content_json_text is not null then 'json'
        else 'none'
    end as content_kind,
    -- what was said: the text, else the structured content (tool output) as JSON text
    coalesce(o.content_text, o.content_json_text) as content,
    o.content_json,
    coalesce(a.attachment_count, 0) as attachment_count,
    coalesce(a.attachment_names, array[]::text[]) as attachment_names,
    coalesce(a.attachments, '[]'::jsonb) as attachments,
    a.attachments_summary,
    a.all_attachments_archived,
    o.event_id,
    o.log_file_id
from ordered as o
left join {{ ref('conversations') }} as c on c.conversation_id = o.conversation_id
left join message_attachments as a on a.message_id = o.message_id
left join {{ ref('stg_users') }} as u on u.user_id = o.actor_user_id
