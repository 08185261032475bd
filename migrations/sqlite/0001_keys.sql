-- Signatrust key store, SQLite. Keep in step with migrations/postgres.
-- Secrets are envelope-encrypted: secret_ct = AES-256-GCM(DEK) with the tag
-- appended, wrapped_dek = DEK wrapped by the KEK named kek_id. Times are
-- epoch seconds.

CREATE TABLE keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL UNIQUE,
    fingerprint  TEXT    NOT NULL,
    algo         TEXT    NOT NULL,
    user_ids     TEXT    NOT NULL,
    public       BLOB    NOT NULL,
    secret_ct    BLOB    NOT NULL,
    secret_nonce BLOB    NOT NULL,
    wrapped_dek  BLOB    NOT NULL,
    kek_id       TEXT    NOT NULL,
    created      INTEGER NOT NULL,
    updated      INTEGER NOT NULL
);

CREATE INDEX keys_fingerprint ON keys (fingerprint);

CREATE TABLE aliases (
    alias  TEXT NOT NULL PRIMARY KEY,
    target TEXT NOT NULL
);

CREATE TABLE encryption_keys (
    id          TEXT    NOT NULL PRIMARY KEY,
    ct          BLOB    NOT NULL,
    nonce       BLOB    NOT NULL,
    wrapped_dek BLOB    NOT NULL,
    kek_id      TEXT    NOT NULL,
    created     INTEGER NOT NULL,
    updated     INTEGER NOT NULL
);
