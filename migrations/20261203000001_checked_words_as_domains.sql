-- The ingest statement writes three columns that hold one of a few words:
-- inbox_events.mode and .status, blocked_objects.state. As table CHECK
-- constraints, PostgreSQL read their stored text back into an expression
-- and planned it again in every statement writing those tables (7% of a
-- one-event group's statement). A domain's constraint is kept ready in the
-- connection's type cache instead. Same words, same refusals (a check
-- violation, SQLSTATE 23514).
--
-- The columns change type to domains without constraints first (no table
-- rewrite; the partial indexes on these columns are rebuilt), then the
-- domains get their checks, which read each table through (inbox_events
-- twice). All under an exclusive lock, once, at start-up.
CREATE DOMAIN aarc_receive_mode AS text;
CREATE DOMAIN aarc_event_status AS text;
CREATE DOMAIN aarc_object_state AS text;

ALTER TABLE inbox_events
    DROP CONSTRAINT inbox_events_mode_check,
    DROP CONSTRAINT inbox_events_status_check,
    ALTER COLUMN mode TYPE aarc_receive_mode,
    ALTER COLUMN status TYPE aarc_event_status;
ALTER TABLE blocked_objects
    DROP CONSTRAINT blocked_objects_state_check,
    ALTER COLUMN state TYPE aarc_object_state;

ALTER DOMAIN aarc_receive_mode ADD CONSTRAINT aarc_receive_mode_known
    CHECK (VALUE IN ('structured', 'binary', 'batch', 'plain', 'observation'));
ALTER DOMAIN aarc_event_status ADD CONSTRAINT aarc_event_status_known
    CHECK (VALUE IN ('applied', 'ignored'));
ALTER DOMAIN aarc_object_state ADD CONSTRAINT aarc_object_state_known
    CHECK (VALUE IN ('blocked', 'hidden', 'pending_review', 'purging', 'purged', 'restored'));
