-- Redemptions are written once per licence with a single-use token; the
-- expiry index cost a second B-tree insert on each. Expired rows are now
-- purged by the store's writer thread in chunks off the request path, where
-- a scan in key order (ids start with their issue time) finds them first.
DROP INDEX IF EXISTS redemptions_expires_at;
