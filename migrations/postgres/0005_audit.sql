-- The audit trail (src/audit/): one row per signing-related request and
-- per admin change, hash-chained: hash = SHA-256 over the row's canonical
-- encoding, which includes prev_hash, the previous row's hash (64 zero
-- digits before the first row ever written). seq is assigned by the writer
-- (last seq + 1) and is the primary key, so two writers racing for the
-- same place in the chain cannot both win. Times are epoch microseconds.
-- audit_anchor holds, after `signatrust-admin audit prune`, the seq and
-- hash of the last pruned row, from which the remaining chain is checked.
-- Keep in step with migrations/sqlite.

CREATE TABLE audit_log (
    seq          BIGINT  NOT NULL PRIMARY KEY,
    time_us      BIGINT  NOT NULL,
    kind         TEXT    NOT NULL,
    peer         TEXT    NOT NULL,
    tls_subject  TEXT    NOT NULL,
    command      TEXT    NOT NULL,
    user_name    TEXT    NOT NULL,
    key_name     TEXT    NOT NULL,
    fingerprint  TEXT    NOT NULL,
    hash_algo    TEXT    NOT NULL,
    digests      TEXT    NOT NULL,
    outcome      TEXT    NOT NULL,
    error        TEXT    NOT NULL,
    latency_us   BIGINT  NOT NULL,
    os_user      TEXT    NOT NULL,
    detail       TEXT    NOT NULL,
    prev_hash    TEXT    NOT NULL,
    hash         TEXT    NOT NULL
);

CREATE INDEX audit_log_time ON audit_log (time_us);
CREATE INDEX audit_log_key ON audit_log (key_name);

CREATE TABLE audit_anchor (
    id          BIGINT  NOT NULL PRIMARY KEY CHECK (id = 1),
    seq         BIGINT  NOT NULL,
    hash        TEXT    NOT NULL,
    pruned_at   BIGINT  NOT NULL
);
