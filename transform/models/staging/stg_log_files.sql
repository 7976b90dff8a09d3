{#- The manifest: one row per log file id (the latest loaded copy). -#}
{%- set src = source('archive', 'log_files') -%}
{%- set cols = column_names(src) -%}
with ranked as (
    select
        l.*,
        row_number() over (partition by l.id order by {{ latest_first(cols) }}) as dedupe_rank
    from {{ src }} as l
)

select
    id as log_file_id,
    {{ opt(cols, 'workspace_id') }} as workspace_id,
    {{ opt(cols, 'scope') }} as scope,
    event_type,
    {{ utc('end_time') }} as end_time,
    {{ opt(cols, 'file_name') }} as file_name,
    {{ opt(cols, 'file_size', 'bigint') }} as file_size,
    lower({{ opt(cols, 'provider_sha256') }}) as provider_sha256,
    lower({{ opt(cols, 'verified_sha256') }}) as verified_sha256,
    {{ opt(cols, 'bytes_downloaded', 'bigint') }} as bytes_downloaded,
    {{ opt(cols, 'download_attempts', 'bigint') }} as download_attempts,
    {{ opt(cols, 'line_count', 'bigint') }} as line_count,
    {{ opt(cols, 'event_count', 'bigint') }} as event_count,
    {{ opt(cols, 'duplicates_dropped', 'bigint') }} as duplicates_dropped,
    -- unparsed_lines (a count) in newer archives, malformed_lines (the lines) in older ones
    coalesce(
        {{ opt(cols, 'unparsed_lines', 'bigint') }},
        jsonb_array_length({{ json_array(opt(cols, 'malformed_lines')) }})
    ) as unparsed_lines,
    {{ utc(opt(cols, 'processed_at', 'timestamp')) }} as processed_at
from ranked
where dedupe_rank = 1
