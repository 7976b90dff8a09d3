{#-
  Stretches longer than var('coverage_gap_minutes') between two consecutive log files (by
  end_time) of one event type. Quiet hours produce such stretches too: each row is a lead to check
  against the API's listing, not proof of a loss. The last row per type (open_ended) is the stretch
  from the newest log file to now: how far behind the archive is.
-#}
with log_files as (
    select * from {{ ref('stg_log_files') }}
),

consecutive as (
    select
        event_type,
        lag(log_file_id) over w as previous_log_file_id,
        lag(end_time) over w as gap_start,
        log_file_id as next_log_file_id,
        end_time as gap_end
    from log_files
    window w as (partition by event_type order by end_time, log_file_id)
),

stretches as (
    select event_type, previous_log_file_id, gap_start, next_log_file_id, gap_end, false as open_ended
    from consecutive
    where gap_start is not null
    union all
    select event_type, log_file_id, end_time, cast(null as text), now(), true
    from (
        select distinct on (event_type) event_type, log_file_id, end_time
        from log_files
        order by event_type, end_time desc, log_file_id desc
    ) as newest
)

select
    event_type,
    gap_start,
    gap_end,
    round(extract(epoch from gap_end - gap_start)::numeric / 60, 1) as gap_minutes,
    previous_log_file_id,
    next_log_file_id,
    open_ended
from stretches
where gap_end - gap_start > interval '1 minute' * {{ var('coverage_gap_minutes', 60) }}
