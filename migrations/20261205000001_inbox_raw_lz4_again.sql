-- Changing inbox_events.raw to text (20261203000002) rewrote the column and
-- with it dropped its compression setting back to the server's default,
-- pglz: a 10,000-object event's stored body was compressed several times
-- more slowly than 20261202000002 had arranged. Set lz4 again. Rows already
-- stored keep their compression; a server built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE inbox_events ALTER COLUMN raw SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available: inbox_events.raw stays compressed with pglz';
END;
$$;
