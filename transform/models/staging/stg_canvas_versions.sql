{#- One row per canvas version (textdoc_id, version), the latest loaded copy; none if never loaded. -#}
{%- set rel = optional_source('canvas_versions') -%}
{%- set cols = column_names(rel) -%}
{%- if rel is not none and 'textdoc_id' in cols and 'version' in cols %}
with ranked as (
    select
        v.*,
        row_number() over (
            partition by v.textdoc_id, v.version order by {{ latest_first(cols) }}
        ) as dedupe_rank
    from {{ rel }} as v
)

select
    textdoc_id,
    cast(version as bigint) as version,
    {{ opt(cols, 'user_id') }} as user_id,
    {{ opt(cols, 'workspace_id') }} as workspace_id,
    {{ opt(cols, 'textdoc_type') }} as textdoc_type,
    nullif(btrim({{ opt(cols, 'name') }}), '') as name,
    -- the text (content as served is a string; anything else as its JSON text)
    {{ json_text(opt(cols, 'content')) }} as content,
    {{ json_array(opt(cols, 'comments')) }} as comments,
    {{ utc(opt(cols, 'updated_at', 'timestamp')) }} as updated_at,
    {{ opt(cols, 'raw_sha256') }} as raw_sha256
from ranked
where dedupe_rank = 1
{%- else %}
select
    cast(null as text) as textdoc_id,
    cast(null as bigint) as version,
    cast(null as text) as user_id,
    cast(null as text) as workspace_id,
    cast(null as text) as textdoc_type,
    cast(null as text) as name,
    cast(null as text) as content,
    cast(null as jsonb) as comments,
    cast(null as timestamptz) as updated_at,
    cast(null as text) as raw_sha256
where false
{%- endif %}
