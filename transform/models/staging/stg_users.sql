{#- The workspace directory, if the users stream was loaded (else no rows). -#}
{%- set rel = optional_source('users') -%}
{%- set cols = column_names(rel) -%}
{%- if rel is not none and 'id' in cols %}
with ranked as (
    select
        u.*,
        row_number() over (partition by u.id order by {{ latest_first(cols) }}) as dedupe_rank
    from {{ rel }} as u
)

select
    id as user_id,
    {{ opt(cols, 'email') }} as email,
    coalesce(
        nullif(btrim({{ opt(cols, 'name') }}), ''),
        nullif(btrim({{ opt(cols, 'display_name') }}), '')
    ) as user_name,
    {{ opt(cols, 'role') }} as role,
    {{ opt(cols, 'status') }} as status
from ranked
where dedupe_rank = 1
{%- else %}
select
    cast(null as text) as user_id,
    cast(null as text) as email,
    cast(null as text) as user_name,
    cast(null as text) as role,
    cast(null as text) as status
where false
{%- endif %}
