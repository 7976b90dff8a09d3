{#-
  Every archived version of every canvas: one row per (textdoc_id, version), with its text, how
  much it grew or shrank since the version before (length_delta, in characters), and its comments.
-#}
with versions as (
    select * from {{ ref('stg_canvas_versions') }}
),

users as (
    select * from {{ ref('stg_users') }}
),

ordered as (
    select
        v.*,
        char_length(v.content) as content_length,
        coalesce(array_length(regexp_split_to_array(v.content, E'\n'), 1), 0) as line_count,
        lag(v.version) over w as previous_version,
        lag(v.content) over w as previous_content,
        lag(v.updated_at) over w as previous_updated_at,
        count(*) over (partition by v.textdoc_id) as versions_archived,
        max(v.version) over (partition by v.textdoc_id) as latest_version
    from versions as v
    window w as (partition by v.textdoc_id order by v.version)
)

select
    o.textdoc_id,
    o.version,
    o.version = o.latest_version as is_latest,
    o.user_id,
    u.email as user_email,
    o.workspace_id,
    o.textdoc_type,
    o.name,
    o.updated_at,
    o.previous_version,
    -- false when the version before this one is not in the archive (a hole)
    coalesce(o.previous_version = o.version - 1, o.version = 1) as previous_version_archived,
    o.previous_updated_at,
    o.content,
    o.content_length,
    -- characters added (+) or removed (-) since the previous archived version (the first: all)
    o.content_length - coalesce(char_length(o.previous_content), 0) as length_delta,
    o.line_count,
    -- null for the first version
    case when o.previous_version is null then null
         else o.content is distinct from o.previous_content end as content_changed,
    jsonb_array_length(o.comments) as comment_count,
    o.comments,
    o.raw_sha256
from ordered as o
left join users as u on u.user_id = o.user_id
