-- Online KEK rotation (keep in step with the other backend). While
-- `signatrust-admin kek rotate` runs, each row's data key is wrapped a
-- second time, by the new KEK, here; the row itself is not touched, so
-- servers on the old KEK keep working and servers on the new KEK use these
-- wraps. `kek rotate --finish` moves them into the rows and empties the
-- table in one transaction. `source` is the SHA-256 (hex) of the row's
-- wrapped DEK a wrap was made from: a row replaced since then does not use
-- a stale wrap (and is rotated again).

CREATE TABLE kek_rotation (
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    source      TEXT NOT NULL,
    kek_id      TEXT NOT NULL,
    wrapped_dek BYTEA NOT NULL,
    PRIMARY KEY (kind, name)
);
