-- No query reads the inbox by tenant (tenants are never deleted, so no
-- foreign key scans it either), yet every event paid one more index insert
-- for it: a sixth of the inbox's write cost on the ingest path.
DROP INDEX IF EXISTS inbox_by_tenant;
