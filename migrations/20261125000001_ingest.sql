-- Tenants: one installation on one site. Connect tenants are registered by an
-- operator (clientKey + shared secret); Forge tenants by their first verified
-- invocation token (installationId, no secret to hold).
CREATE TABLE tenants (
    id                      uuid PRIMARY KEY,
    kind                    text NOT NULL CHECK (kind IN ('connect', 'forge')),
    tenant_key              text NOT NULL,          -- clientKey or installationId
    cloud_id                text COLLATE "C" NOT NULL,
    base_url                text,                   -- Connect baseUrl or Forge apiBaseUrl
    site_url                text,                   -- the site's own URL when known
    shared_secret           text,                   -- Connect only
    app_id                  text,                   -- Forge only
    system_token            text,                   -- newest x-forge-oauth-system token
    system_token_expires_at timestamptz,
    installed               boolean NOT NULL DEFAULT true,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenants_kind_key UNIQUE (kind, tenant_key),
    CONSTRAINT connect_has_secret CHECK (kind <> 'connect' OR shared_secret IS NOT NULL)
);
CREATE INDEX tenants_by_site ON tenants (cloud_id);

-- Every event ever acknowledged, as received, exactly once per (site, source, id).
CREATE TABLE inbox_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cloud_id    text COLLATE "C" NOT NULL,
    source      text COLLATE "C" NOT NULL,
    event_id    text COLLATE "C" NOT NULL,
    event_type  text NOT NULL,
    event_time  timestamptz,
    received_at timestamptz NOT NULL DEFAULT now(),
    mode        text NOT NULL CHECK (mode IN ('structured', 'binary', 'batch', 'plain')),
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    status      text NOT NULL CHECK (status IN ('applied', 'ignored')),
    raw         jsonb NOT NULL,
    CONSTRAINT inbox_once_per_site UNIQUE (cloud_id, source, event_id)
);
CREATE INDEX inbox_by_tenant ON inbox_events (tenant_id, received_at);
CREATE INDEX inbox_ignored ON inbox_events (event_type) WHERE status = 'ignored';

-- Key columns use the "C" collation: ids are opaque strings, and byte-wise
-- comparison makes every index probe cheaper.
-- Objects a site has blocked the app from. first_blocked_at is the earliest of
-- the first blocking event's time and its receive time (contract §5).
CREATE TABLE blocked_objects (
    cloud_id         text COLLATE "C" NOT NULL,
    product          text COLLATE "C" NOT NULL,
    object_type      text COLLATE "C" NOT NULL,
    object_id        text COLLATE "C" NOT NULL,
    state            text NOT NULL DEFAULT 'blocked'
        CHECK (state IN ('blocked', 'hidden', 'pending_review', 'purging', 'purged', 'restored')),
    first_blocked_at timestamptz NOT NULL,
    last_blocked_at  timestamptz NOT NULL,
    first_inbox_id   bigint NOT NULL REFERENCES inbox_events (id),
    last_inbox_id    bigint NOT NULL REFERENCES inbox_events (id),
    -- Every event that named the object (its history), capped at 1000. Kept on
    -- the row because an upsert rewrites the row anyway: no second index to feed.
    inbox_ids        bigint[] NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cloud_id, product, object_type, object_id)
);

-- Containers with content blocked inside. Never turned into object blocks.
CREATE TABLE blocked_containers (
    cloud_id         text COLLATE "C" NOT NULL,
    product          text COLLATE "C" NOT NULL,
    container_id     text COLLATE "C" NOT NULL,
    first_blocked_at timestamptz NOT NULL,
    last_blocked_at  timestamptz NOT NULL,
    first_inbox_id   bigint NOT NULL REFERENCES inbox_events (id),
    last_inbox_id    bigint NOT NULL REFERENCES inbox_events (id),
    inbox_ids        bigint[] NOT NULL,
    PRIMARY KEY (cloud_id, product, container_id)
);
