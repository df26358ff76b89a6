-- A large event's cost, once more: the statement trigger that raised a
-- site's change counter after block rows were inserted captured every
-- inserted row in a transition table and read them all back for their
-- sites — about a sixth of what a 10,000-object event cost PostgreSQL.
-- Block rows are inserted by one statement of aarc only (store/blocks.rs,
-- `write_blocks`), which raises the counters of its sites itself, in the
-- same statement. Updates, deletes and truncates keep their triggers.
DROP TRIGGER blocked_objects_inserted_bump ON blocked_objects;
