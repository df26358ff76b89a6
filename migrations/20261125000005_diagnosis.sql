-- What the app's services saw when they called Atlassian about an object, and
-- how aarc classified it (contract §4.1). Kept for diagnosis and history.
CREATE TABLE observations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cloud_id    text COLLATE "C" NOT NULL,
    product     text COLLATE "C" NOT NULL,
    object_type text COLLATE "C" NOT NULL,
    object_id   text COLLATE "C" NOT NULL,
    observed_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    status      integer NOT NULL,
    actor       text NOT NULL CHECK (actor IN ('app', 'user')),
    operation   text NOT NULL CHECK (operation IN ('read', 'write', 'admin')),
    message     text,
    headers     jsonb NOT NULL DEFAULT '{}',
    verdict     text NOT NULL,
    rule        text NOT NULL,
    reported_by text NOT NULL,
    -- What it changed: 'blocked' (policy header) or 'verification_requested'
    -- (a successful call on an object held as blocked); NULL otherwise.
    effect      text
);
CREATE INDEX observations_by_object
    ON observations (cloud_id, product, object_type, object_id, observed_at);

-- A policy header seen by the app blocks the object even when no event came:
-- the block row points at an inbox row of mode 'observation' as its cause.
ALTER TABLE inbox_events DROP CONSTRAINT inbox_events_mode_check;
ALTER TABLE inbox_events ADD CONSTRAINT inbox_events_mode_check
    CHECK (mode IN ('structured', 'binary', 'batch', 'plain', 'observation'));

-- Asked once per site and product after a tenant registers: does Atlassian
-- already block content from the app? If so, blocks from before the
-- installation (no event was sent to the app) may be unknown to aarc.
CREATE TABLE registration_checks (
    cloud_id            text COLLATE "C" NOT NULL,
    product             text COLLATE "C" NOT NULL,
    checked_at          timestamptz NOT NULL,
    any_content_blocked boolean,
    error               text,
    PRIMARY KEY (cloud_id, product)
);
