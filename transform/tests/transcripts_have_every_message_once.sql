-- Every archived message appears in transcripts exactly once, and nothing else does.
with archived as (
    select distinct id as message_id from {{ source('archive', 'messages') }}
),

transcript as (
    select message_id, count(*) as n from {{ ref('transcripts') }} group by message_id
)

select coalesce(a.message_id, t.message_id) as message_id, t.n
from archived as a
full outer join transcript as t on t.message_id = a.message_id
where a.message_id is null or t.message_id is null or t.n <> 1
