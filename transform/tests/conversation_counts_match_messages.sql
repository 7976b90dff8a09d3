-- conversations.message_count and first/last message times agree with the archived messages,
-- conversation by conversation (the facts the tap's per-run *_seen columns cannot give).
with truth as (
    select
        conversation_id,
        count(*) as message_count,
        min(sent_at) as first_message_at,
        max(sent_at) as last_message_at
    from {{ ref('stg_messages') }}
    group by conversation_id
)

select c.conversation_id, c.message_count, t.message_count as messages_in_archive
from {{ ref('conversations') }} as c
full outer join truth as t on t.conversation_id = c.conversation_id
where c.conversation_id is null
    or c.message_count <> coalesce(t.message_count, 0)
    or c.first_message_at is distinct from t.first_message_at
    or c.last_message_at is distinct from t.last_message_at
