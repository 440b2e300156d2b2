-- keyward-store schema, version 10: audit events by request id.
--
-- The decision debugger finds a request's decision record (kept in the audit
-- trail for sites that opt in) by its request id, on any node and after a
-- restart; support looks up every event of one request the same way.
CREATE INDEX audit_request ON audit (request_id) WHERE request_id IS NOT NULL;
