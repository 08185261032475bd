complete -c signatrustd -l data-dir -d 'Directory of the embedded store (signatrust.db) and the KEK file (kek.key); created by signatrustd\'s first start and by the admin verbs that make a store (init, key generate, key import, enckey generate|import, import-signd, db migrate). Default: /var/lib/signatrust, or the [store] of --config' -r -F
complete -c signatrustd -l config -d 'Signatrust configuration file (TOML)' -r -F
complete -c signatrustd -l database-url -d 'The key database, overriding `[store] url`: `sqlite:///PATH` or `postgres://USER@HOST/DB` (prefer the environment variable for a URL with a password: command lines are visible to other users)' -r
complete -c signatrustd -l sign-conf -d 'An obs-signd sign.conf to honour (port, allow, user, map, ...)' -r -F
complete -c signatrustd -l listen -d 'Listen on this address instead of the configured one (repeatable)' -r
complete -c signatrustd -s t -d 'Run one command (`-t CMD USER ARGS…`) and print the raw reply, as `signd -t` does. Same configuration rules as --test-sign' -r
complete -c signatrustd -l check-config -d 'Load and validate the configuration, print warnings, and exit'
complete -c signatrustd -l test-sign -d 'obs-signd\'s test hook: read one framed request on stdin, write the reply on stdout; nothing on stderr unless RUST_LOG is set. The sign.conf is `--sign-conf`, else `$SIGN_CONF`, else (without --data-dir/--config) /etc/sign.conf. Without --data-dir/--config the keys come from the gpg home named by sign.conf, held in a scratch store that is deleted on exit'
complete -c signatrustd -s h -l help -d 'Print help'
complete -c signatrustd -s V -l version -d 'Print version'
