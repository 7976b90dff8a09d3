{#-
  The history of each project's configuration: one row per version (1 = the first), with its
  instructions, knowledge files, and what changed from the version before.
-#}
{{ config_history('stg_project_configs', 'project_id') }}
