-- Key lifecycle (signatrust-admin key delete/restore/replace, default-user).
-- Keep in step with migrations/postgres.
--
-- deleted_keys: a key retired by `key delete` (or replaced by `key
-- replace`), kept with its wrapped secret until `purge_after` (epoch
-- seconds) so that `key restore` can bring it back. The server never reads
-- this table: a key stops serving the moment its row leaves `keys`. One
-- retired copy per name (the newest). Same columns as `keys`.
CREATE TABLE deleted_keys (
    name         TEXT    NOT NULL PRIMARY KEY,
    fingerprint  TEXT    NOT NULL,
    algo         TEXT    NOT NULL,
    user_ids     TEXT    NOT NULL,
    public       BLOB    NOT NULL,
    secret_ct    BLOB    NOT NULL,
    secret_nonce BLOB    NOT NULL,
    wrapped_dek  BLOB    NOT NULL,
    kek_id       TEXT    NOT NULL,
    created      INTEGER NOT NULL,
    updated      INTEGER NOT NULL,
    deleted      INTEGER NOT NULL,
    purge_after  INTEGER NOT NULL
);

-- Store-wide settings set with signatrust-admin (e.g. default_user).
CREATE TABLE settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

-- A counter bumped by every change to keys, aliases, encryption keys and
-- settings (by triggers, so every writer counts: signatrust-admin, another
-- server). A server polls it at most once a second and empties its caches
-- when it moved, so a deleted or replaced key stops serving within about a
-- second instead of the cache TTL.
CREATE TABLE store_revision (
    id       INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
);
INSERT INTO store_revision (id, revision) VALUES (1, 0);

CREATE TRIGGER keys_insert_rev AFTER INSERT ON keys
BEGIN UPDATE store_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER keys_update_rev AFTER UPDATE ON keys
BEGIN UPDATE store_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER keys_delete_rev AFTER DELETE ON keys
BEGIN UPDATE store_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER aliases_insert_rev AFTER INSERT ON aliases
BEGIN UPDATE store_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER aliases_update_rev AFTER UPDATE ON aliases
BEGIN UPDATE store_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER aliases_delete_rev AFTER DELETE ON aliases
BEGIN UPDATE store_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER encryption_keys_insert_rev AFTER INSERT ON encryption_keys
BEGIN UPDATE store_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER encryption_keys_update_rev AFTER UPDATE ON encryption_keys
BEGIN UPDATE store_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER encryption_keys_delete_rev AFTER DELETE ON encryption_keys
BEGIN UPDATE store_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER settings_insert_rev AFTER INSERT ON settings
BEGIN UPDATE store_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER settings_update_rev AFTER UPDATE ON settings
BEGIN UPDATE store_revision SET revision = revision + 1 WHERE id = 1; END;
CREATE TRIGGER settings_delete_rev AFTER DELETE ON settings
BEGIN UPDATE store_revision SET revision = revision + 1 WHERE id = 1; END;
