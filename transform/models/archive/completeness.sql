{#-
  One row per event type: what the archive holds and how far it can be trusted.
  - log files archived (the tap's manifest) and how many have the SHA-256 the tap computed equal to
    the provider's (verified) — anything else means a file must be read again;
  - the end_time span covered, the lag behind now, and the stretches without log files longer than
    var('coverage_gap_minutes') (details in coverage_gaps);
  - events kept according to the manifest vs records in the archive;
  - for CONVERSATION_MESSAGE: attachments archived and not archived, by status.
-#}
{%- set events_rel = optional_source('events') -%}
{%- set events_cols = column_names(events_rel) -%}
with log_files as (
    select * from {{ ref('stg_log_files') }}
),

gaps as (
    select
        event_type,
        count(*) filter (where not open_ended) as coverage_gaps,
        max(gap_minutes) filter (where not open_ended) as longest_gap_minutes
    from {{ ref('coverage_gaps') }}
    group by event_type
),

manifest as (
    select
        event_type,
        count(*) as log_files_archived,
        count(*) filter (where verified_sha256 = provider_sha256) as log_files_sha256_verified,
        count(*) filter (where verified_sha256 is distinct from provider_sha256)
            as log_files_sha256_not_verified,
        min(end_time) as first_end_time,
        max(end_time) as last_end_time,
        max(processed_at) as last_processed_at,
        coalesce(sum(event_count), 0) as events_in_manifest,
        coalesce(sum(duplicates_dropped), 0) as duplicates_dropped,
        coalesce(sum(unparsed_lines), 0) as unparsed_lines,
        coalesce(sum(bytes_downloaded), 0) as bytes_downloaded
    from log_files
    group by event_type
),

records as (
    select 'CONVERSATION_MESSAGE' as event_type, count(*) as records_in_archive
    from {{ ref('stg_messages') }}
{%- if events_rel is not none and 'type' in events_cols %}
    union all
    select "type", count(*)
    from {{ events_rel }}
    where "type" is distinct from 'CONVERSATION_MESSAGE'
    group by "type"
{%- endif %}
),

attachment_status as (
    select status, count(*) as n
    from {{ ref('attachments') }}
    group by status
),

attachment_stats as (
    select
        'CONVERSATION_MESSAGE' as event_type,
        coalesce(sum(n), 0) as attachments_referenced,
        coalesce(sum(n) filter (where status = 'archived'), 0) as attachments_archived,
        coalesce(sum(n) filter (where status <> 'archived'), 0) as attachments_not_archived,
        coalesce(
            jsonb_object_agg(status, n) filter (where status <> 'archived'), '{}'::jsonb
        ) as attachments_not_archived_by_status
    from attachment_status
),

event_types as (
    select event_type from manifest
    union
    select event_type from records where records_in_archive > 0
)

select
    t.event_type,
    coalesce(m.log_files_archived, 0) as log_files_archived,
    coalesce(m.log_files_sha256_verified, 0) as log_files_sha256_verified,
    coalesce(m.log_files_sha256_not_verified, 0) as log_files_sha256_not_verified,
    m.first_end_time,
    m.last_end_time,
    m.last_processed_at,
    round(extract(epoch from now() - m.last_end_time)::numeric / 3600, 2) as lag_hours,
    coalesce(g.coverage_gaps, 0) as coverage_gaps,
    g.longest_gap_minutes,
    coalesce(m.events_in_manifest, 0) as events_in_manifest,
    coalesce(r.records_in_archive, 0) as records_in_archive,
    coalesce(m.duplicates_dropped, 0) as duplicates_dropped,
    coalesce(m.unparsed_lines, 0) as unparsed_lines,
    coalesce(m.bytes_downloaded, 0) as bytes_downloaded,
    a.attachments_referenced,
    a.attachments_archived,
    a.attachments_not_archived,
    a.attachments_not_archived_by_status
from event_types as t
left join manifest as m on m.event_type = t.event_type
left join gaps as g on g.event_type = t.event_type
left join records as r on r.event_type = t.event_type
left join attachment_stats as a on a.event_type = t.event_type
