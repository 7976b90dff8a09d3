{#-
  Helpers that keep the models working whatever column types the loader chose and whichever
  optional columns the tap wrote (older archives lack some, newer ones add some).
-#}

{#- The schema target-postgres loaded: the tenant's load_schema (as in sources.yml). -#}
{% macro source_schema() -%}
  {{- return(var('chatgpt_compliance_source_schema', '') or env_var('DBT_POSTGRES_SOURCE_SCHEMA', '') or 'chatgpt_compliance') -}}
{%- endmacro %}

{#- Lower-cased column names of a relation (empty while dbt only parses the project). -#}
{% macro column_names(relation) -%}
  {%- if not execute or relation is none -%}{{ return([]) }}{%- endif -%}
  {%- set cols = adapter.get_columns_in_relation(relation) -%}
  {{- return(cols | map(attribute='name') | map('lower') | list) -}}
{%- endmacro %}

{#- The column (quoted) if the source has it, else a typed NULL: `{{ opt(cols, 'x') }} as x`. -#}
{% macro opt(columns, name, data_type='text') -%}
  {%- if name | lower in columns -%}{{ adapter.quote(name) }}{%- else -%}cast(null as {{ data_type }}){%- endif -%}
{%- endmacro %}

{#- The source table if it exists (a stream that was never selected has none), else none. -#}
{% macro optional_source(table_name) -%}
  {%- if not execute -%}{{ return(none) }}{%- endif -%}
  {%- set rel = adapter.get_relation(database=target.database, schema=source_schema(), identifier=table_name) -%}
  {{- return(rel) -}}
{%- endmacro %}

{#- ORDER BY clause putting the most recently loaded copy of a key first (append-only loads). -#}
{% macro latest_first(columns) -%}
  {%- set keys = [] -%}
  {%- for c in ['_sdc_extracted_at', '_sdc_batched_at', '_sdc_sequence'] if c in columns -%}
    {%- do keys.append(adapter.quote(c) ~ ' desc nulls last') -%}
  {%- endfor -%}
  {{- keys | join(', ') if keys else '1' -}}
{%- endmacro %}

{#-
  A timestamp as timestamptz. target-postgres writes `timestamp without time zone` holding UTC;
  another loader may write timestamptz or text: every case gives the same instant.
-#}
{% macro utc(expr) -%}
  (case when pg_typeof({{ expr }}) = 'timestamp without time zone'::regtype
        then ({{ expr }})::timestamp at time zone 'UTC'
        else ({{ expr }})::timestamptz end)
{%- endmacro %}

{#- JSON held as text or as jsonb, as text (a JSON string value unquoted; JSON null as NULL). -#}
{% macro json_text(expr) -%}
  (case jsonb_typeof(to_jsonb({{ expr }}))
     when 'string' then to_jsonb({{ expr }}) #>> '{}'
     when 'null' then null
     else to_jsonb({{ expr }})::text end)
{%- endmacro %}

{#- JSON held as text or as jsonb, as jsonb (text that holds an object or array is parsed). -#}
{% macro json_value(expr) -%}
  (case when jsonb_typeof(to_jsonb({{ expr }})) = 'string'
             and (to_jsonb({{ expr }}) #>> '{}') ~ '^\s*[\[{]'
        then (to_jsonb({{ expr }}) #>> '{}')::jsonb
        else to_jsonb({{ expr }}) end)
{%- endmacro %}

{#- A JSON array (text[], jsonb or JSON text) as a jsonb array; anything else as []. -#}
{% macro json_array(expr) -%}
  coalesce(
    (case when jsonb_typeof({{ json_value(expr) }}) = 'array' then {{ json_value(expr) }} end),
    '[]'::jsonb)
{%- endmacro %}
