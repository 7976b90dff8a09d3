{#- One row per canvas (textdoc) id listed by the canvases stream, with its user; none if never loaded. -#}
{%- set rel = optional_source('canvases') -%}
{%- set cols = column_names(rel) -%}
{%- if rel is not none and 'id' in cols %}
with ranked as (
    select
        c.*,
        row_number() over (partition by c.id order by {{ latest_first(cols) }}) as dedupe_rank
    from {{ rel }} as c
)

select
    id as textdoc_id,
    {{ opt(cols, 'user_id') }} as user_id,
    {{ opt(cols, 'workspace_id') }} as workspace_id
from ranked
where dedupe_rank = 1
{%- else %}
select
    cast(null as text) as textdoc_id,
    cast(null as text) as user_id,
    cast(null as text) as workspace_id
where false
{%- endif %}
