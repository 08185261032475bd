-- The key IDs (16 upper-case hex digits) of each stored key's primary key
-- and subkeys, so that the key a gpg blob is addressed to is found by index
-- instead of by reading every key. A key without v4 key IDs gets one row
-- with an empty key_id, so that every key counts as indexed. Rows of keys
-- stored before this table existed are filled in by the server on first use
-- (KeyStore::names_by_key_id). Keep in step with the other backend.

CREATE TABLE key_ids (
    key_id TEXT NOT NULL,
    name   TEXT NOT NULL,
    PRIMARY KEY (key_id, name)
);

CREATE INDEX key_ids_name ON key_ids (name);
