{#-
  The history of each custom GPT's configuration: one row per version (1 = the first), with its
  instructions, knowledge files, and what changed from the version before.
-#}
{{ config_history('stg_gpt_configs', 'gpt_id') }}
