-- Every log file in the manifest was verified: the SHA-256 of the bytes read equals the
-- provider's file_sha256. (The tap never writes a mismatch; one here means tampering or a bug.)
select log_file_id, event_type, provider_sha256, verified_sha256
from {{ ref('stg_log_files') }}
where verified_sha256 is distinct from provider_sha256
