-- Which KEK this store belongs to (keep in step with the other backend).
-- The row of role 'current' holds a random 32-byte value wrapped by that
-- KEK (AAD "signatrust:kek-canary:v1:<kek_id>"). A configured KEK that is
-- not the current one, or does not unwrap its value, is refused before
-- anything is read or written: the store fails closed instead of mixing
-- KEKs. The role is the primary key, so two first opens racing with
-- different KEKs agree on one. `kek rewrap` replaces the row in the same
-- transaction as the rows it rewraps.

CREATE TABLE kek_canary (
    role    TEXT    NOT NULL PRIMARY KEY,
    kek_id  TEXT    NOT NULL,
    wrapped BLOB NOT NULL,
    created INTEGER NOT NULL
);
