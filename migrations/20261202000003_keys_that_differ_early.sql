-- What an ingested block costs PostgreSQL, made smaller again.
--
-- Unique keys ordered so that comparisons end early. Within one site the
-- product and type of new blocks are nearly always equal to their
-- neighbours', so a key of (cloud_id, product, object_type, object_id)
-- compared three equal text columns before reaching the one that differs,
-- at every level of the tree and for every probe. The id now comes right
-- after the site: per-site reads keep their prefix, and most comparisons
-- end at the second column. The same holds for the inbox (event ids differ,
-- sources rarely do) and for blocked containers.
ALTER TABLE blocked_objects
    DROP CONSTRAINT blocked_objects_pkey,
    ADD CONSTRAINT blocked_objects_pkey PRIMARY KEY (cloud_id, object_id, product, object_type);
ALTER TABLE blocked_containers
    DROP CONSTRAINT blocked_containers_pkey,
    ADD CONSTRAINT blocked_containers_pkey PRIMARY KEY (cloud_id, container_id, product);
ALTER TABLE inbox_events
    DROP CONSTRAINT inbox_once_per_site,
    ADD CONSTRAINT inbox_once_per_site UNIQUE (cloud_id, event_id, source);

-- Every block is inserted as 'blocked', so an index that holds blocked rows
-- takes one entry per ingested object: a fifth of a large event's cost. The
-- reconciler finds blocked rows another way (the sites whose change counter
-- moved since it last looked, read by their key prefix; see
-- src/reconcile/hide_scan.rs), so the work index keeps only the states the
-- reconciler itself sets.
DROP INDEX blocked_objects_work;
CREATE INDEX blocked_objects_work ON blocked_objects (state)
    WHERE state IN ('hidden', 'purging');
