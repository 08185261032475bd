-- Signatrust key store, PostgreSQL. Keep in step with migrations/sqlite.
-- Secrets are envelope-encrypted: secret_ct = AES-256-GCM(DEK) with the tag
-- appended, wrapped_dek = DEK wrapped by the KEK named kek_id. Times are
-- epoch seconds (BIGINT, read as i64 through sqlx's Any driver).

CREATE TABLE keys (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         TEXT   NOT NULL UNIQUE,
    fingerprint  TEXT   NOT NULL,
    algo         TEXT   NOT NULL,
    user_ids     TEXT   NOT NULL,
    public       BYTEA  NOT NULL,
    secret_ct    BYTEA  NOT NULL,
    secret_nonce BYTEA  NOT NULL,
    wrapped_dek  BYTEA  NOT NULL,
    kek_id       TEXT   NOT NULL,
    created      BIGINT NOT NULL,
    updated      BIGINT NOT NULL
);

CREATE INDEX keys_fingerprint ON keys (fingerprint);

CREATE TABLE aliases (
    alias  TEXT NOT NULL PRIMARY KEY,
    target TEXT NOT NULL
);

CREATE TABLE encryption_keys (
    id          TEXT   NOT NULL PRIMARY KEY,
    ct          BYTEA  NOT NULL,
    nonce       BYTEA  NOT NULL,
    wrapped_dek BYTEA  NOT NULL,
    kek_id      TEXT   NOT NULL,
    created     BIGINT NOT NULL,
    updated     BIGINT NOT NULL
);
