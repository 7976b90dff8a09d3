{#- One row per GPT configuration version (gpt_id, config_id), the latest loaded copy. -#}
{{ stg_configs('gpt_configs', 'gpt_id') }}
