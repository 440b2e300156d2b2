-- keyward-store schema, version 9: a searchable audit trail.
--
-- `user_id` is the end user of a licence event (the token's user id, or the
-- client standing in for one); NULL for other events and for every row written
-- before this version, which stay readable as they are. Searches run newest
-- first by event time, so each index ends in at_unix_ms (and, implicitly, the
-- rowid `id`, the tie-break): the whole trail, one site's, one user's. A user
-- search with a site uses the user's index and checks the site (a user's rows
-- are few next to a site's). Content id and result filters ride on these.
ALTER TABLE audit ADD COLUMN user_id TEXT;

CREATE INDEX audit_at ON audit (at_unix_ms);

CREATE INDEX audit_site_at ON audit (site_id, at_unix_ms);

CREATE INDEX audit_user_at ON audit (user_id, at_unix_ms) WHERE user_id IS NOT NULL;
