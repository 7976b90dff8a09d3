{#- One row per project configuration version (project_id, config_id), the latest loaded copy. -#}
{{ stg_configs('project_configs', 'project_id') }}
