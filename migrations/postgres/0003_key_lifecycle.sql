-- Key lifecycle (signatrust-admin key delete/restore/replace, default-user).
-- Keep in step with migrations/sqlite.
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
    public       BYTEA   NOT NULL,
    secret_ct    BYTEA   NOT NULL,
    secret_nonce BYTEA   NOT NULL,
    wrapped_dek  BYTEA   NOT NULL,
    kek_id       TEXT    NOT NULL,
    created      BIGINT  NOT NULL,
    updated      BIGINT  NOT NULL,
    deleted      BIGINT  NOT NULL,
    purge_after  BIGINT  NOT NULL
);

-- Store-wide settings set with signatrust-admin (e.g. default_user).
CREATE TABLE settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

-- A counter bumped by every change to keys, aliases, encryption keys and
-- settings (by statement triggers, so every writer counts: signatrust-admin,
-- another server). A server polls it at most once a second and empties its
-- caches when it moved, so a deleted or replaced key stops serving within
-- about a second instead of the cache TTL.
CREATE TABLE store_revision (
    id       BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO store_revision (id, revision) VALUES (1, 0);

CREATE FUNCTION signatrust_bump_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE store_revision SET revision = revision + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER keys_rev AFTER INSERT OR UPDATE OR DELETE ON keys
    FOR EACH STATEMENT EXECUTE FUNCTION signatrust_bump_revision();
CREATE TRIGGER aliases_rev AFTER INSERT OR UPDATE OR DELETE ON aliases
    FOR EACH STATEMENT EXECUTE FUNCTION signatrust_bump_revision();
CREATE TRIGGER encryption_keys_rev AFTER INSERT OR UPDATE OR DELETE ON encryption_keys
    FOR EACH STATEMENT EXECUTE FUNCTION signatrust_bump_revision();
CREATE TRIGGER settings_rev AFTER INSERT OR UPDATE OR DELETE ON settings
    FOR EACH STATEMENT EXECUTE FUNCTION signatrust_bump_revision();
