-- Ingest speed: foreign keys from the inbox to tenants and from the block
-- tables to the inbox cost every inserted row a trigger lookup, and every
-- inbox row a KEY SHARE lock on its tenant's row — concurrent ingest
-- transactions of one busy tenant all shared-locked the same row (a
-- MultiXact per row), and a 10,000-object event ran 20,000 lookups.
--
-- The references hold by construction instead: a block row is written in
-- the same statement or transaction as the inbox row it names, and neither
-- inbox events nor tenants are ever deleted (a tenant is only marked
-- uninstalled). The triggers below make that a rule of the database.
ALTER TABLE inbox_events DROP CONSTRAINT inbox_events_tenant_id_fkey;
ALTER TABLE blocked_objects DROP CONSTRAINT blocked_objects_first_inbox_id_fkey;
ALTER TABLE blocked_objects DROP CONSTRAINT blocked_objects_last_inbox_id_fkey;
ALTER TABLE blocked_containers DROP CONSTRAINT blocked_containers_first_inbox_id_fkey;
ALTER TABLE blocked_containers DROP CONSTRAINT blocked_containers_last_inbox_id_fkey;

CREATE FUNCTION aarc_is_never_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never deleted: block and history rows refer to them', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER inbox_events_never_deleted
    BEFORE DELETE OR TRUNCATE ON inbox_events
    FOR EACH STATEMENT EXECUTE FUNCTION aarc_is_never_deleted();
CREATE TRIGGER tenants_never_deleted
    BEFORE DELETE OR TRUNCATE ON tenants
    FOR EACH STATEMENT EXECUTE FUNCTION aarc_is_never_deleted();
