{#-
  Staging of the workspace-object streams (issue 21). Every such table is optional (the streams
  are chosen in the catalog): a table that was never loaded gives an empty, typed view.
-#}

{#- The rows of a configuration stream (gpt_configs, project_configs): one per configuration. -#}
{% macro stg_configs(table_name, parent) -%}
{%- set rel = optional_source(table_name) -%}
{%- set cols = column_names(rel) -%}
{%- if rel is not none and 'id' in cols and parent in cols %}
with ranked as (
    select
        c.*,
        row_number() over (
            partition by c.{{ adapter.quote(parent) }}, c.id order by {{ latest_first(cols) }}
        ) as dedupe_rank
    from {{ rel }} as c
),

typed as (
    select
        {{ adapter.quote(parent) }} as {{ parent }},
        id as config_id,
        {{ opt(cols, 'workspace_id') }} as workspace_id,
        {{ utc(opt(cols, 'created_at', 'timestamp')) }} as created_at,
        {{ opt(cols, 'name') }} as name,
        {{ opt(cols, 'description') }} as description,
        {{ opt(cols, 'instructions') }} as instructions,
        {{ json_array(opt(cols, 'conversation_starters')) }} as conversation_starters,
        {{ json_array(opt(cols, 'categories')) }} as categories,
        {{ json_value(opt(cols, 'version_author')) }} as version_author,
        {{ opt(cols, 'version_author_id') }} as version_author_id,
        {{ json_array(opt(cols, 'file_ids')) }} as file_ids,
        {{ json_value(opt(cols, 'files')) }} as files,
        {{ json_value(opt(cols, 'tools')) }} as tools,
        {{ opt(cols, 'raw_sha256') }} as raw_sha256
    from ranked
    where dedupe_rank = 1
)

select
    {{ parent }},
    config_id,
    workspace_id,
    created_at,
    name,
    description,
    instructions,
    conversation_starters,
    categories,
    coalesce(version_author_id, version_author ->> 'id') as version_author_id,
    version_author ->> 'email' as version_author_email,
    file_ids,
    -- [{id, name}] of the knowledge files (files is a list object, or a bare array)
    coalesce(
        (select jsonb_agg(jsonb_build_object('id', f ->> 'id', 'name', f ->> 'name') order by ord)
         from jsonb_array_elements(
             case when jsonb_typeof(files -> 'data') = 'array' then files -> 'data'
                  when jsonb_typeof(files) = 'array' then files else '[]'::jsonb end
         ) with ordinality as x (f, ord)),
        '[]'::jsonb) as knowledge_files,
    -- the tools as a list: [{type, …}] (tools is a list object, or a bare array)
    case when jsonb_typeof(tools -> 'data') = 'array' then tools -> 'data'
         when jsonb_typeof(tools) = 'array' then tools else '[]'::jsonb end as tools,
    raw_sha256
from typed
{%- else %}
select
    cast(null as text) as {{ parent }},
    cast(null as text) as config_id,
    cast(null as text) as workspace_id,
    cast(null as timestamptz) as created_at,
    cast(null as text) as name,
    cast(null as text) as description,
    cast(null as text) as instructions,
    cast(null as jsonb) as conversation_starters,
    cast(null as jsonb) as categories,
    cast(null as text) as version_author_id,
    cast(null as text) as version_author_email,
    cast(null as jsonb) as file_ids,
    cast(null as jsonb) as knowledge_files,
    cast(null as jsonb) as tools,
    cast(null as text) as raw_sha256
where false
{%- endif %}
{%- endmacro %}

{#-
  The history of one kind of configuration (a GPT's or a project's): one row per configuration
  version, numbered 1, 2, 3 … in creation order, with what changed from the version before.
-#}
{% macro config_history(staging, parent) -%}
with configs as (
    select * from {{ ref(staging) }}
),

ordered as (
    select
        c.*,
        row_number() over w as version_number,
        count(*) over (partition by {{ parent }}) as version_count,
        lag(config_id) over w as previous_config_id,
        lag(name) over w as previous_name,
        lag(description) over w as previous_description,
        lag(instructions) over w as previous_instructions,
        lag(conversation_starters) over w as previous_conversation_starters,
        lag(categories) over w as previous_categories,
        lag(file_ids) over w as previous_file_ids,
        lag(tools) over w as previous_tools,
        lead(created_at) over w as superseded_at
    from configs as c
    window w as (partition by {{ parent }} order by created_at nulls first, config_id)
)

select
    {{ parent }},
    config_id,
    version_number,
    version_count,
    version_number = version_count as is_current,
    workspace_id,
    created_at,
    superseded_at,
    version_author_id,
    version_author_email,
    name,
    description,
    instructions,
    -- null for the first version (nothing before it)
    case when previous_config_id is null then null
         else instructions is distinct from previous_instructions end as changed_from_previous,
    case when previous_config_id is null then array[]::text[]
         else array_remove(array[
             case when name is distinct from previous_name then 'name' end,
             case when description is distinct from previous_description then 'description' end,
             case when instructions is distinct from previous_instructions then 'instructions' end,
             case when conversation_starters is distinct from previous_conversation_starters
                  then 'conversation_starters' end,
             case when categories is distinct from previous_categories then 'categories' end,
             case when file_ids is distinct from previous_file_ids then 'knowledge_files' end,
             case when (select jsonb_agg(t - 'created_at' order by ord)
                        from jsonb_array_elements(tools) with ordinality as x (t, ord))
                  is distinct from
                  (select jsonb_agg(t - 'created_at' order by ord)
                   from jsonb_array_elements(previous_tools) with ordinality as x (t, ord))
                  then 'tools' end
         ]::text[], null) end as changed_fields,
    previous_config_id,
    conversation_starters,
    categories,
    file_ids as knowledge_file_ids,
    knowledge_files,
    coalesce(
        (select jsonb_agg(f order by f collate "C") from jsonb_array_elements_text(file_ids) as f
         where not coalesce(previous_file_ids, '[]'::jsonb) ? f),
        '[]'::jsonb) as knowledge_files_added,
    coalesce(
        (select jsonb_agg(f order by f collate "C") from jsonb_array_elements_text(previous_file_ids) as f
         where not file_ids ? f),
        '[]'::jsonb) as knowledge_files_removed,
    tools,
    raw_sha256
from ordered
{%- endmacro %}
