-- Operator sessions of the web page at /ui. The cookie holds a random id; the
-- table holds only its SHA-256, so a leaked table does not leak sessions.
-- Each session carries its own anti-forgery token for the page's forms.
CREATE TABLE ui_sessions (
    id_hash     bytea PRIMARY KEY,
    operator    text NOT NULL,
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX ui_sessions_expiry ON ui_sessions (expires_at);
