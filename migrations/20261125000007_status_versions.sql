-- Status answers from memory: aarc may answer a batch check from an
-- in-process copy of a site's blocks only while no transaction has changed
-- them since the copy was read. Every write that can change a status answer
-- (a block row, a retention policy) adds one to a counter of its site; the
-- sum of a site's counters therefore grows with every committed change, and
-- a copy tagged with the sum it was read with is current exactly while the
-- sum is unchanged.
--
-- One counter per site *and writing backend*: concurrent transactions never
-- wait on each other's counter row (one shared row per site would serialise
-- every group commit of a busy site, and rows shared by several backends can
-- deadlock when two transactions touch sites in different orders). Rows of
-- backends that are gone are folded into backend 0 (see status_versions.rs),
-- which leaves every sum as it was.
CREATE TABLE status_versions (
    cloud_id text COLLATE "C" NOT NULL,
    backend  integer NOT NULL,
    version  bigint NOT NULL,
    PRIMARY KEY (cloud_id, backend)
);

CREATE FUNCTION aarc_bump_status_versions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Ordered, so that a statement touching many sites takes its row locks
    -- in one order (only its own backend's rows, but cheap insurance).
    INSERT INTO status_versions AS v (cloud_id, backend, version)
    SELECT DISTINCT cloud_id, pg_backend_pid(), 1 FROM changed ORDER BY 1
    ON CONFLICT (cloud_id, backend) DO UPDATE SET version = v.version + 1;
    RETURN NULL;
END;
$$;

-- Transition tables allow one event per trigger, hence three.
CREATE TRIGGER blocked_objects_inserted_bump AFTER INSERT ON blocked_objects
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION aarc_bump_status_versions();
CREATE TRIGGER blocked_objects_updated_bump AFTER UPDATE ON blocked_objects
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION aarc_bump_status_versions();
CREATE TRIGGER blocked_objects_deleted_bump AFTER DELETE ON blocked_objects
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION aarc_bump_status_versions();
CREATE TRIGGER retention_policies_inserted_bump AFTER INSERT ON retention_policies
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION aarc_bump_status_versions();
CREATE TRIGGER retention_policies_updated_bump AFTER UPDATE ON retention_policies
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION aarc_bump_status_versions();
CREATE TRIGGER retention_policies_deleted_bump AFTER DELETE ON retention_policies
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION aarc_bump_status_versions();

-- A TRUNCATE names no site: it bumps every site's folded counter.
CREATE FUNCTION aarc_bump_all_status_versions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE status_versions SET version = version + 1 WHERE backend = 0;
    INSERT INTO status_versions (cloud_id, backend, version)
    SELECT DISTINCT cloud_id, 0, 1 FROM status_versions
    ON CONFLICT (cloud_id, backend) DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER blocked_objects_truncated_bump AFTER TRUNCATE ON blocked_objects
    FOR EACH STATEMENT EXECUTE FUNCTION aarc_bump_all_status_versions();
CREATE TRIGGER retention_policies_truncated_bump AFTER TRUNCATE ON retention_policies
    FOR EACH STATEMENT EXECUTE FUNCTION aarc_bump_all_status_versions();

-- Versions of sites that had blocks before this migration start at 1.
INSERT INTO status_versions (cloud_id, backend, version)
SELECT DISTINCT cloud_id, 0, 1 FROM blocked_objects;
