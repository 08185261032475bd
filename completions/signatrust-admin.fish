# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_signatrust_admin_global_optspecs
    string join \n data-dir= config= h/help V/version
end

function __fish_signatrust_admin_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_signatrust_admin_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_signatrust_admin_using_subcommand
    set -l cmd (__fish_signatrust_admin_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c signatrust-admin -n "__fish_signatrust_admin_needs_command" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_needs_command" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c signatrust-admin -n "__fish_signatrust_admin_needs_command" -s V -l version -d 'Print version'
complete -c signatrust-admin -n "__fish_signatrust_admin_needs_command" -f -a "import-signd" -d 'Migrate an obs-signd installation: keys of every user with a phrases file, aliases and symmetric encryption keys'
complete -c signatrust-admin -n "__fish_signatrust_admin_needs_command" -f -a "key" -d 'Generate, import, inspect, export, extend, replace, delete and restore signing keys'
complete -c signatrust-admin -n "__fish_signatrust_admin_needs_command" -f -a "alias" -d 'Manage user aliases (signd\'s aliases directory), including the `:enc` and `:enc:<user>` aliases that choose keygen\'s blob encryption key'
complete -c signatrust-admin -n "__fish_signatrust_admin_needs_command" -f -a "enckey" -d 'Manage the symmetric encryption keys of "01" blobs (signd\'s encryptionkeys directory)'
complete -c signatrust-admin -n "__fish_signatrust_admin_needs_command" -f -a "default-user" -d 'Show or set the key used for requests with an empty user'
complete -c signatrust-admin -n "__fish_signatrust_admin_needs_command" -f -a "kek" -d 'Manage the key-encryption key (KEK) that wraps the data keys: create it, show which KEK wraps the stored secrets, migrate them to another KEK (e.g. from the key file to an HSM)'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand import-signd" -l sign-conf -d 'The obs-signd sign.conf naming phrases:, aliases:, encryptionkeys: and gnupghome:' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand import-signd" -l gnupghome -d 'The gpg home holding the signd keys, when sign.conf has no gnupghome: (default: $GNUPGHOME)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand import-signd" -l gpg -d 'The gpg binary to export keys with' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand import-signd" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand import-signd" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand import-signd" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and not __fish_seen_subcommand_from generate import list show export delete restore replace extend" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and not __fish_seen_subcommand_from generate import list show export delete restore replace extend" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and not __fish_seen_subcommand_from generate import list show export delete restore replace extend" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and not __fish_seen_subcommand_from generate import list show export delete restore replace extend" -f -a "generate" -d 'Generate a new signing key under NAME, shaped as gpg 2.2 makes it: a primary key that signs and certifies, the user ID and its self-signature, and with --encryption-subkey an encryption subkey (needed by the signd key of an OBS server for `keygen` and `privsign`). A revocation certificate is saved to --revocation-cert, else to NAME.rev in the data directory; its path is printed'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and not __fish_seen_subcommand_from generate import list show export delete restore replace extend" -f -a "import" -d 'Import an OpenPGP secret key (armored or binary) under NAME. A protected key is unlocked with --passphrase-file, else with a passphrase asked on the terminal'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and not __fish_seen_subcommand_from generate import list show export delete restore replace extend" -f -a "list" -d 'List keys: name, algorithm and size, fingerprint, user IDs, created, expires, aliases (tab-separated; dates UTC)'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and not __fish_seen_subcommand_from generate import list show export delete restore replace extend" -f -a "show" -d 'Show one key: fingerprint, algorithm, user IDs, created, expires, subkeys, the aliases pointing at it, the KEK that wraps it'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and not __fish_seen_subcommand_from generate import list show export delete restore replace extend" -f -a "export" -d 'Print the public key of NAME: armored OpenPGP (what `pubkey` returns) or the primary key as PEM (SubjectPublicKeyInfo)'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and not __fish_seen_subcommand_from generate import list show export delete restore replace extend" -f -a "delete" -d 'Retire the key NAME: it stops serving at once and is kept, with its wrapped secret, for --retention-days (`key restore` brings it back). Asks on a terminal unless --yes. Refused while aliases point at it, unless --force'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and not __fish_seen_subcommand_from generate import list show export delete restore replace extend" -f -a "restore" -d 'Bring back a key retired by `key delete` or `key replace`'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and not __fish_seen_subcommand_from generate import list show export delete restore replace extend" -f -a "replace" -d 'Swap the key under NAME for the secret key in FILE or a newly generated one, in one transaction: every request sees the old key or the new one, never "unknown key". The old key is retired (restorable with `key restore` once the new one is deleted)'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and not __fish_seen_subcommand_from generate import list show export delete restore replace extend" -f -a "extend" -d 'Extend the expiry of NAME (or, with --expiring-within, of every key that expires within DAYS or has expired) with new self-signatures made here, so `pubkey` returns the extended key. Subkeys that expire are extended to the same date. Signatures made before stay valid'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from generate" -l type -d 'Algorithm and size of the primary key' -r -f -a "rsa2048\t'RSA 2048 (RSA encryption subkey)'
rsa3072\t'RSA 3072 (RSA encryption subkey)'
rsa4096\t'RSA 4096 (RSA encryption subkey)'
ed25519\t'EdDSA on Ed25519 (Curve25519 ECDH encryption subkey)'
dsa2048\t'DSA, 2048-bit p and 256-bit q (ElGamal encryption subkey)'
nistp256\t'ECDSA on NIST P-256 (ECDH subkey). rpm 4.18 cannot verify ECDSA'
nistp384\t'ECDSA on NIST P-384 (ECDH subkey). rpm 4.18 cannot verify ECDSA'"
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from generate" -l uid -d 'User ID, e.g. "Build Service <obs@example.org>"' -r
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from generate" -l expire -d 'Days until the key expires (0: never). obs-sign\'s `sign -x` (extend) and `sign -C` (certificate) need an expiring key' -r
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from generate" -l revocation-cert -d 'Where to write the revocation certificate (armored; refused if the file exists). Default: NAME.rev in the data directory' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from generate" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from generate" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from generate" -l encryption-subkey -d 'Add an encryption subkey (gpg\'s pairing for the type)'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from generate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from import" -l passphrase-file -d 'File whose first line is the key\'s passphrase' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from import" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from import" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from list" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from list" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from list" -l json -d 'One JSON array of objects instead of lines'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from list" -l deleted -d 'List retired keys (restorable with `key restore`) instead'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from show" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from show" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from show" -l json -d 'A JSON object instead of lines'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from export" -l format -d 'Output format' -r -f -a "armor\t'ASCII-armored OpenPGP public key (as `pubkey` returns it)'
pem\t'The primary key as a PEM SubjectPublicKeyInfo (RSA, DSA, ECDSA, Ed25519), e.g. for `openssl` or sigstore'"
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from export" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from export" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from delete" -l retention-days -d 'Days the retired key stays restorable' -r
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from delete" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from delete" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from delete" -s y -l yes -d 'Do not ask'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from delete" -l force -d 'Delete even though aliases point at the key (they then resolve to no key)'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from delete" -l now -d 'Destroy the wrapped secret now (and any retired copy): no restore'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from restore" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from restore" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from restore" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from replace" -l passphrase-file -d 'File whose first line is FILE\'s passphrase' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from replace" -l type -d 'With --generate: algorithm and size of the new key' -r -f -a "rsa2048\t'RSA 2048 (RSA encryption subkey)'
rsa3072\t'RSA 3072 (RSA encryption subkey)'
rsa4096\t'RSA 4096 (RSA encryption subkey)'
ed25519\t'EdDSA on Ed25519 (Curve25519 ECDH encryption subkey)'
dsa2048\t'DSA, 2048-bit p and 256-bit q (ElGamal encryption subkey)'
nistp256\t'ECDSA on NIST P-256 (ECDH subkey). rpm 4.18 cannot verify ECDSA'
nistp384\t'ECDSA on NIST P-384 (ECDH subkey). rpm 4.18 cannot verify ECDSA'"
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from replace" -l uid -d 'With --generate: the new key\'s user ID' -r
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from replace" -l expire -d 'With --generate: days until the new key expires (0: never)' -r
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from replace" -l retention-days -d 'Days the old key stays restorable' -r
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from replace" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from replace" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from replace" -l generate -d 'Generate the new key (--type, --uid, --expire, --encryption-subkey as for `key generate`)'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from replace" -l encryption-subkey -d 'With --generate: add an encryption subkey'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from replace" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from extend" -l days -d 'New expiry: DAYS from now' -r
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from extend" -l expiring-within -d 'Every key that expires within DAYS from now (expired ones too)' -r
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from extend" -l by -d 'With --expiring-within: the new expiry, DAYS from now' -r
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from extend" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from extend" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from extend" -l dry-run -d 'List what would be extended; change nothing'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand key; and __fish_seen_subcommand_from extend" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand alias; and not __fish_seen_subcommand_from add set remove list" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand alias; and not __fish_seen_subcommand_from add set remove list" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand alias; and not __fish_seen_subcommand_from add set remove list" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand alias; and not __fish_seen_subcommand_from add set remove list" -f -a "add" -d 'Make ALIAS resolve to TARGET, an existing key (for `:enc` aliases also an encryption key id). Replaces an existing alias'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand alias; and not __fish_seen_subcommand_from add set remove list" -f -a "set" -d 'Make ALIAS resolve to TARGET, an existing key (for `:enc` aliases also an encryption key id). Replaces an existing alias'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand alias; and not __fish_seen_subcommand_from add set remove list" -f -a "remove" -d 'Remove ALIAS'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand alias; and not __fish_seen_subcommand_from add set remove list" -f -a "list" -d 'List aliases: alias, target (tab-separated)'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand alias; and __fish_seen_subcommand_from add" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand alias; and __fish_seen_subcommand_from add" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand alias; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand alias; and __fish_seen_subcommand_from set" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand alias; and __fish_seen_subcommand_from set" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand alias; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand alias; and __fish_seen_subcommand_from remove" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand alias; and __fish_seen_subcommand_from remove" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand alias; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand alias; and __fish_seen_subcommand_from list" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand alias; and __fish_seen_subcommand_from list" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand alias; and __fish_seen_subcommand_from list" -l json -d 'One JSON array of {alias, target} objects'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand alias; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and not __fish_seen_subcommand_from generate list import delete" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and not __fish_seen_subcommand_from generate list import delete" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and not __fish_seen_subcommand_from generate list import delete" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and not __fish_seen_subcommand_from generate list import delete" -f -a "generate" -d 'Generate a symmetric encryption key as `signd --gen-enckey` does and print its id (16 upper-case hex digits); with --alias also point that `:enc` alias at it'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and not __fish_seen_subcommand_from generate list import delete" -f -a "list" -d 'List encryption keys: id, created, the KEK that wraps it, aliases'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and not __fish_seen_subcommand_from generate list import delete" -f -a "import" -d 'Import a signd encryption key file (one line of 144 hex digits), named by its id, the file name (16 upper-case hex digits)'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and not __fish_seen_subcommand_from generate list import delete" -f -a "delete" -d 'Delete an encryption key. Blobs encrypted to it can no longer be used. Refused while `:enc` aliases point at it, unless --force'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and __fish_seen_subcommand_from generate" -l alias -d '`:enc` or `:enc:USER` to point at the new key' -r
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and __fish_seen_subcommand_from generate" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and __fish_seen_subcommand_from generate" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and __fish_seen_subcommand_from generate" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and __fish_seen_subcommand_from list" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and __fish_seen_subcommand_from list" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and __fish_seen_subcommand_from list" -l json -d 'One JSON array of objects'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and __fish_seen_subcommand_from import" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and __fish_seen_subcommand_from import" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and __fish_seen_subcommand_from delete" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and __fish_seen_subcommand_from delete" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and __fish_seen_subcommand_from delete" -s y -l yes -d 'Do not ask'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and __fish_seen_subcommand_from delete" -l force -d 'Delete even though aliases point at it'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand enckey; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand default-user; and not __fish_seen_subcommand_from show set" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand default-user; and not __fish_seen_subcommand_from show set" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand default-user; and not __fish_seen_subcommand_from show set" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand default-user; and not __fish_seen_subcommand_from show set" -f -a "show" -d 'Print the store\'s default user (the key for requests with an empty user when the configuration sets none)'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand default-user; and not __fish_seen_subcommand_from show set" -f -a "set" -d 'Set the store\'s default user to an existing key; `--clear` removes it. `user:` in sign.conf or [users] default_user take precedence'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand default-user; and __fish_seen_subcommand_from show" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand default-user; and __fish_seen_subcommand_from show" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand default-user; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand default-user; and __fish_seen_subcommand_from set" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand default-user; and __fish_seen_subcommand_from set" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand default-user; and __fish_seen_subcommand_from set" -l clear -d 'Remove the default user'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand default-user; and __fish_seen_subcommand_from set" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand kek; and not __fish_seen_subcommand_from create status rewrap" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand kek; and not __fish_seen_subcommand_from create status rewrap" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand kek; and not __fish_seen_subcommand_from create status rewrap" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand kek; and not __fish_seen_subcommand_from create status rewrap" -f -a "create" -d 'Create the configured KEK. With provider "pkcs11": generate a non-extractable AES-256 key labelled key_label on the token (refused if the label exists). With provider "file": create the 32-byte key file (refused if it exists)'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand kek; and not __fish_seen_subcommand_from create status rewrap" -f -a "status" -d 'Show the configured KEK (provider, id, whether it opens) and how many key and encryption-key rows each KEK id wraps; rows not under the configured KEK are flagged. Fails if the KEK does not open or such rows exist'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand kek; and not __fish_seen_subcommand_from create status rewrap" -f -a "rewrap" -d 'Re-wrap every data key of the store under the KEK described by the [kms] section of FILE, in one database transaction (all or nothing). The store and the current KEK are those of --data-dir/--config. Afterwards serve the store with FILE\'s [kms] settings'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand kek; and __fish_seen_subcommand_from create" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand kek; and __fish_seen_subcommand_from create" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand kek; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand kek; and __fish_seen_subcommand_from status" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand kek; and __fish_seen_subcommand_from status" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand kek; and __fish_seen_subcommand_from status" -l json -d 'One JSON object (provider, kek_id, opens, error, store, wrapped)'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand kek; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand kek; and __fish_seen_subcommand_from rewrap" -l to-config -d 'A Signatrust configuration file whose [kms] section names the new KEK (only [kms] is used); the KEK must exist (kek create)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand kek; and __fish_seen_subcommand_from rewrap" -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created on first use. Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand kek; and __fish_seen_subcommand_from rewrap" -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrust-admin -n "__fish_signatrust_admin_using_subcommand kek; and __fish_seen_subcommand_from rewrap" -s h -l help -d 'Print help'
