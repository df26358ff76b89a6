-- Retention policies per (site, product, object type); the configured
-- default applies where none is set.
CREATE TABLE retention_policies (
    cloud_id    text COLLATE "C" NOT NULL,
    product     text COLLATE "C" NOT NULL,
    object_type text COLLATE "C" NOT NULL,
    action      text NOT NULL CHECK (action IN ('keep', 'hide', 'purge')),
    grace_secs  bigint NOT NULL CHECK (grace_secs >= 0),
    review      text NOT NULL CHECK (review IN ('required', 'auto')),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text NOT NULL,
    PRIMARY KEY (cloud_id, product, object_type)
);

-- The object state machine. Each transition is appended to `transitions`
-- (from, to, at, cause) on the row itself: the row is rewritten by the
-- transition anyway, so history costs no second table or index.
ALTER TABLE blocked_objects
    ADD COLUMN decision_id           uuid,
    -- An operator chose to keep this object's data: no hiding, no purging
    -- until a new block cycle starts.
    ADD COLUMN kept                  boolean NOT NULL DEFAULT false,
    ADD COLUMN state_changed_at      timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN verified_unblocked_at timestamptz,
    ADD COLUMN transitions           jsonb NOT NULL DEFAULT '[]';

-- Reconciler passes look for work by state; this keeps them index-driven.
CREATE INDEX blocked_objects_work ON blocked_objects (state, cloud_id, product, object_type)
    WHERE state IN ('blocked', 'hidden', 'purging');

-- A purge decision groups the due objects of one site, product and type.
CREATE TABLE decisions (
    id           uuid PRIMARY KEY,
    cloud_id     text COLLATE "C" NOT NULL,
    product      text COLLATE "C" NOT NULL,
    object_type  text COLLATE "C" NOT NULL,
    state        text NOT NULL
        CHECK (state IN ('pending_review', 'held', 'kept', 'purging', 'purged', 'cancelled')),
    review       text NOT NULL CHECK (review IN ('required', 'auto')),
    object_count integer NOT NULL,
    created_at   timestamptz NOT NULL,
    pass_id      uuid NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX decisions_by_state ON decisions (state, created_at);
CREATE INDEX decisions_by_site ON decisions (cloud_id, created_at);

-- A decision's objects are the blocked_objects rows pointing at it (one
-- decision per site, product and type, so the object id orders them). A
-- separate membership table would double the writes of every decision.
CREATE INDEX blocked_objects_by_decision ON blocked_objects (decision_id, object_id)
    WHERE decision_id IS NOT NULL;

-- Every operator action: who (token name), when, what, why. Never updated.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    cloud_id    text,
    decision_id uuid,
    reason      text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_decision ON audit_log (decision_id) WHERE decision_id IS NOT NULL;
CREATE INDEX audit_by_site ON audit_log (cloud_id, at);

-- Notifications to the app, written in the transaction of the transition they
-- report, delivered (and retried) by the sender. `id` is the webhook-id.
CREATE TABLE outbox (
    id              uuid PRIMARY KEY,
    cloud_id        text COLLATE "C" NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('retention.hide', 'retention.restore', 'retention.purge')),
    decision_id     uuid,
    body            jsonb NOT NULL,
    created_at      timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    locked_until    timestamptz,
    last_error      text,
    delivered_at    timestamptz,
    dead_at         timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL AND dead_at IS NULL;

-- What Atlassian said when asked whether a site's product still blocks content.
CREATE TABLE site_verifications (
    cloud_id          text COLLATE "C" NOT NULL,
    product           text COLLATE "C" NOT NULL,
    last_attempt_at   timestamptz,
    last_success_at   timestamptz,
    any_blocked       boolean,
    last_error        text,
    next_attempt_at   timestamptz,  -- not before (errors, 429 Retry-After)
    requested_at      timestamptz,  -- asked for early (e.g. by a diagnosis)
    PRIMARY KEY (cloud_id, product)
);

-- Whether a block event starts a new cycle for an object that was restored or
-- purged: only when the event is newer than the last verified unblock.
CREATE FUNCTION aarc_new_block_cycle(state text, verified_unblocked_at timestamptz,
                                     blocked_at timestamptz) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$
    SELECT state IN ('restored', 'purged')
       AND blocked_at > COALESCE(verified_unblocked_at, '-infinity'::timestamptz)
$$;

-- Whether an event about a restored object is older than its unblock and so
-- must not block it again.
CREATE FUNCTION aarc_stale_block(state text, verified_unblocked_at timestamptz,
                                 blocked_at timestamptz) RETURNS boolean
    LANGUAGE sql IMMUTABLE AS $$
    SELECT state IN ('restored', 'purged')
       AND blocked_at <= COALESCE(verified_unblocked_at, '-infinity'::timestamptz)
$$;
