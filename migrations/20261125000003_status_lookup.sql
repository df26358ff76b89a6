-- Batch status checks probe blocked_objects once per requested object. A hash
-- index on one key built from the four identifying columns costs about half
-- of a four-column B-tree descent per probe. The separator is U+001F, which
-- domain parsing refuses in every one of the four parts, so no two objects
-- share a key. Queries must spell the expression exactly like this
-- (see store::status::OBJECT_KEY).
CREATE INDEX blocked_objects_by_key ON blocked_objects USING hash
    ((cloud_id || E'\x1f' || product || E'\x1f' || object_type || E'\x1f' || object_id));
