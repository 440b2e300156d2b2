-- keyward-store schema, version 7: licence upstreams per site and DRM.
-- Each (site_id, drm) list is ordered by position, dense 0..n-1: position 0 is
-- the primary, the others are tried in order. Names are unique per site (across
-- DRMs). settings is a JSON object of non-secret values. The secrets (a JSON
-- object of name -> value) are wrapped under the KEK as one value whose AAD
-- names the site and the upstream, so a wrapped value moved to another row
-- fails; NULL when there are none. secret_names (a JSON list, sorted) lets a
-- listing name the secrets without unwrapping them.

CREATE TABLE upstreams (
    site_id         TEXT NOT NULL REFERENCES sites (site_id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    drm             TEXT NOT NULL,
    position        INTEGER NOT NULL CHECK (position >= 0),
    kind            TEXT NOT NULL,
    url             TEXT NOT NULL,
    settings        TEXT NOT NULL,
    secret_names    TEXT NOT NULL,
    secrets_wrapped BLOB,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (site_id, name)
);

CREATE INDEX upstreams_by_site_drm_position ON upstreams (site_id, drm, position);
