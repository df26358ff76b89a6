-- What an ingested block costs PostgreSQL, made smaller.
--
-- The reconciler's work index keyed on (state, cloud_id, product,
-- object_type): for a new block all four are equal to its neighbours', so
-- every insert compared four text columns at each level of the tree, and
-- that was a quarter of a 10,000-object event's time. The queries it serves
-- (hide: state = 'blocked'; purge: state = 'hidden'; purging) filter on the
-- state and read each row anyway, so the state alone is enough of a key.
DROP INDEX blocked_objects_work;
CREATE INDEX blocked_objects_work ON blocked_objects (state)
    WHERE state IN ('blocked', 'hidden', 'purging');

-- A large event's body is stored compressed; lz4 does that several times
-- faster than the default pglz. Rows already stored keep their compression;
-- a server built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE inbox_events ALTER COLUMN raw SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available: inbox_events.raw stays compressed with pglz';
END;
$$;
