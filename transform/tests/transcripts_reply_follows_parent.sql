-- In thread order a reply never comes before the message it answers, and message_seq runs
-- 1..n without holes in every conversation.
with t as (
    select conversation_id, message_id, parent_message_id, message_seq
    from {{ ref('transcripts') }}
),

misordered as (
    select child.conversation_id, child.message_id, 'reply before its parent' as problem
    from t as child
    inner join t as parent
        on parent.message_id = child.parent_message_id
        and parent.conversation_id = child.conversation_id
    where parent.message_seq >= child.message_seq
),

holes as (
    select conversation_id, null as message_id, 'message_seq is not 1..n' as problem
    from t
    group by conversation_id
    having min(message_seq) <> 1 or max(message_seq) <> count(*)
        or count(distinct message_seq) <> count(*)
)

select * from misordered
union all
select * from holes
