-- keyward-store PostgreSQL schema, version 2 (SQLite's 0010): audit events by
-- request id, for the decision debugger's records of opted-in sites and for
-- support looking up every event of one request.
CREATE INDEX audit_request ON audit (request_id) WHERE request_id IS NOT NULL;
