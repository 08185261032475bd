-- Keys imported for decryption only: secret keys of the obs-signd gpg home
-- without a phrases file (e.g. the previous signd key after a rotation),
-- which Perl signd still decrypts project-key blobs with. Such a key is
-- never served: sign, pubkey, keygen and privsign for its name answer as for
-- an unknown key; it is only tried on gpg blobs addressed to it (found
-- through key_ids). 1 = decryption only, 0 = a signing key. Keep in step
-- with the other backend.

ALTER TABLE keys ADD COLUMN decrypt_only BIGINT NOT NULL DEFAULT 0;
-- Retired keys keep the flag (key delete / restore copy every column).
ALTER TABLE deleted_keys ADD COLUMN decrypt_only BIGINT NOT NULL DEFAULT 0;
