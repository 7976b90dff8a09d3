{#-
  Per user (the account whose conversation it is: the event's actor) per UTC day: messages sent
  and received, conversations active and started, attachments uploaded.
-#}
with messages as (
    select
        *,
        (sent_at at time zone 'UTC')::date as activity_date
    from {{ ref('stg_messages') }}
    where actor_user_id is not null and sent_at is not null
),

conversations as (
    select conversation_id, (first_message_at at time zone 'UTC')::date as started_on
    from {{ ref('conversations') }}
),

daily as (
    select
        m.actor_user_id as user_id,
        m.activity_date,
        max(m.actor_email) as actor_email,
        count(*) filter (where m.author_type = 'user') as messages_sent,
        count(*) filter (where m.author_type is distinct from 'user') as messages_received,
        count(*) as messages_total,
        count(distinct m.conversation_id) as conversations_active,
        count(distinct m.conversation_id) filter (where c.started_on = m.activity_date)
            as conversations_started,
        coalesce(sum(jsonb_array_length(m.attachment_ids)) filter (where m.author_type = 'user'), 0)
            as attachments_uploaded,
        min(m.sent_at) as first_message_at,
        max(m.sent_at) as last_message_at
    from messages as m
    left join conversations as c on c.conversation_id = m.conversation_id
    group by m.actor_user_id, m.activity_date
)

select
    d.user_id,
    coalesce(u.email, d.actor_email) as email,
    u.user_name,
    d.activity_date,
    d.messages_sent,
    d.messages_received,
    d.messages_total,
    d.conversations_active,
    d.conversations_started,
    d.attachments_uploaded,
    d.first_message_at,
    d.last_message_at
from daily as d
left join {{ ref('stg_users') }} as u on u.user_id = d.user_id
