{#-
  One row per canvas: listed by the canvases stream or having archived versions, with its user,
  latest title, number of versions archived and whether any version between 1 and the latest is
  missing from the archive.
-#}
with versions as (
    select * from {{ ref('canvas_versions') }}
),

listed as (
    select * from {{ ref('stg_canvases') }}
),

per_canvas as (
    select
        textdoc_id,
        (array_agg(user_id order by version desc))[1] as user_id,
        (array_agg(textdoc_type order by version desc))[1] as textdoc_type,
        (array_agg(name order by version desc) filter (where name is not null))[1] as title,
        count(*) as versions_archived,
        max(version) as latest_version,
        min(updated_at) as first_version_at,
        max(updated_at) as last_version_at,
        (array_agg(content_length order by version desc))[1] as latest_content_length,
        sum(comment_count) as comments_total
    from versions
    group by textdoc_id
)

select
    coalesce(p.textdoc_id, l.textdoc_id) as textdoc_id,
    coalesce(p.user_id, l.user_id) as user_id,
    p.textdoc_type,
    p.title,
    coalesce(p.versions_archived, 0) as versions_archived,
    p.latest_version,
    -- versions 1 … latest_version not in the archive (0 when every version is there)
    coalesce(p.latest_version - p.versions_archived, 0) as versions_missing,
    p.first_version_at,
    p.last_version_at,
    p.latest_content_length,
    coalesce(p.comments_total, 0) as comments_total,
    l.textdoc_id is not null as listed
from per_canvas as p
full outer join listed as l on l.textdoc_id = p.textdoc_id
