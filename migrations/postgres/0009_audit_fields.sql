-- The view `audit_records`: every audit field as a column of its own, on
-- both backends; `signatrust-admin audit list|verify` and a reviewer's SQL
-- read it. Here it is the table itself. On SQLite, 0009 packs the
-- unindexed fields into one JSON column to cut the cost of binding them
-- (migrations/sqlite/0009_audit_fields.sql); PostgreSQL binds parameters
-- cheaply and keeps one column per field.

CREATE VIEW audit_records AS
SELECT seq, time_us, kind, peer, tls_subject, command, user_name, key_name,
       fingerprint, hash_algo, digests, outcome, error, latency_us, os_user,
       detail, prev_hash, hash
FROM audit_log;
