-- The audit trail's row, packed (SQLite only; on PostgreSQL, 0009 only
-- adds the view). The fields that are neither indexed nor links of the
-- chain are stored as one JSON array, `fields`; the view `audit_records`
-- shows every field as a column of its own, on both backends, and is what
-- `signatrust-admin audit list|verify` and a reviewer's SQL read. Why:
-- binding a value costs sqlx two allocations and SQLite a copy, and
-- computing generated columns is paid on every insert; 6 bound values
-- per row instead of 18 cut the writer's CPU per record by about a third
-- (BENCHMARKS.md, "The audit trail").
--
-- fields = [kind, peer, tls_subject, command, user_name, fingerprint,
--           hash_algo, digests, outcome, error, latency_us, os_user,
--           detail]; latency_us is a JSON number, the rest JSON strings.
-- The record hash (src/audit/record.rs) covers the fields, not this
-- encoding, so rows written before and after this migration form one
-- chain. To edit a field by hand (a tamper test), edit `fields`.

CREATE TABLE audit_log_packed (
    seq          INTEGER NOT NULL PRIMARY KEY,
    time_us      INTEGER NOT NULL,
    key_name     TEXT    NOT NULL,
    fields       TEXT    NOT NULL,
    prev_hash    TEXT    NOT NULL,
    hash         TEXT    NOT NULL
);

INSERT INTO audit_log_packed (seq, time_us, key_name, fields, prev_hash, hash)
SELECT seq, time_us, key_name,
       json_array(kind, peer, tls_subject, command, user_name, fingerprint,
                  hash_algo, digests, outcome, error, latency_us, os_user,
                  detail),
       prev_hash, hash
FROM audit_log ORDER BY seq;

DROP TABLE audit_log;
ALTER TABLE audit_log_packed RENAME TO audit_log;
CREATE INDEX audit_log_time ON audit_log (time_us);
CREATE INDEX audit_log_key ON audit_log (key_name);

CREATE VIEW audit_records AS
SELECT seq,
       time_us,
       fields ->> '$[0]'  AS kind,
       fields ->> '$[1]'  AS peer,
       fields ->> '$[2]'  AS tls_subject,
       fields ->> '$[3]'  AS command,
       fields ->> '$[4]'  AS user_name,
       key_name,
       fields ->> '$[5]'  AS fingerprint,
       fields ->> '$[6]'  AS hash_algo,
       fields ->> '$[7]'  AS digests,
       fields ->> '$[8]'  AS outcome,
       fields ->> '$[9]'  AS error,
       fields ->> '$[10]' AS latency_us,
       fields ->> '$[11]' AS os_user,
       fields ->> '$[12]' AS detail,
       prev_hash,
       hash
FROM audit_log;
