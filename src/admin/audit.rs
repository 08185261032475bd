//! `audit verify|list|prune`: the audit trail, read and pruned through
//! `crate::audit` without the KEK; and [`describe`], the audit record of
//! each admin verb that changes something.
use anyhow::{bail, Context};

use super::cli::{
    parse_time, AliasCommand, AuditCommand, Command, DbCommand, DefaultUserCommand, EnckeyCommand,
    KekCommand, KeyCommand,
};
use super::output::{self, say};
use crate::audit::{AdminChange, AuditDb, ChainCheck, Chained, Filter};

/// Rows read per query.
const PAGE: i64 = 1000;

pub(super) async fn run(url: &str, cmd: AuditCommand) -> anyhow::Result<()> {
    let db = AuditDb::open(url).await?;
    let result = match cmd {
        AuditCommand::Verify => verify(&db).await,
        AuditCommand::List {
            key,
            since,
            until,
            json,
        } => {
            let now = crate::audit::now_us();
            let filter = Filter {
                key,
                since_us: since.map(|t| parse_time(&t, now)).transpose()?,
                until_us: until.map(|t| parse_time(&t, now)).transpose()?,
            };
            list(&db, &filter, json).await
        }
        AuditCommand::Prune { before } => {
            let now = crate::audit::now_us();
            let before_us = parse_time(&before, now)?;
            let removed = db.prune(before_us, now).await?;
            say!("pruned {removed} audit records written before {before}");
            Ok(())
        }
    };
    db.close().await;
    result
}

async fn verify(db: &AuditDb) -> anyhow::Result<()> {
    let anchor = db.anchor().await?;
    let from = anchor.seq;
    let mut check = ChainCheck::new(anchor);
    let mut after = from;
    loop {
        let rows = db.page(after, PAGE, &Filter::default()).await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for row in &rows {
            check
                .push(row)
                .with_context(|| format!("audit trail of {} is broken", db.url()))?;
        }
    }
    // The rows are read by seq; a row inserted with a seq at or below the
    // anchor would not be read above.
    if from > 0 {
        let first = db.page(i64::MIN, 1, &Filter::default()).await?;
        if let Some(r) = first.first().filter(|r| r.seq <= from) {
            bail!(
                "audit trail of {} is broken: audit row {} lies before the prune anchor (row {from})",
                db.url(),
                r.seq
            );
        }
    }
    let start = if from > 0 {
        format!(", anchored after row {from}")
    } else {
        String::new()
    };
    say!("audit trail ok: {} records{start}", check.rows);
    Ok(())
}

/// Writes the matching records a page at a time (one write per page);
/// stops reading once stdout is closed (`audit list | head`).
async fn list(db: &AuditDb, filter: &Filter, json: bool) -> anyhow::Result<()> {
    let mut after = i64::MIN;
    while !output::closed() {
        let rows = db.page(after, PAGE, filter).await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        let mut text = String::new();
        for row in &rows {
            text.push_str(&if json { json_line(row) } else { text_line(row) });
            text.push('\n');
        }
        output::write(&text);
    }
    Ok(())
}

/// Microseconds since the epoch as RFC 3339 in UTC.
fn rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_else(|| us.to_string())
}

fn text_line(c: &Chained) -> String {
    let r = &c.record;
    [
        c.seq.to_string(),
        rfc3339(r.time_us),
        r.kind.clone(),
        r.command.clone(),
        r.peer.clone(),
        r.tls_subject.clone(),
        r.os_user.clone(),
        r.user.clone(),
        r.key.clone(),
        r.fingerprint.clone(),
        r.hash_algo.clone(),
        r.digests.clone(),
        r.outcome.clone(),
        r.error.clone(),
        format!("{}us", r.latency_us),
        r.detail.clone(),
    ]
    .iter()
    .map(|f| {
        if f.is_empty() {
            "-".to_owned()
        } else {
            f.replace(['\t', '\n'], " ")
        }
    })
    .collect::<Vec<_>>()
    .join("\t")
}

fn json_line(c: &Chained) -> String {
    let r = &c.record;
    serde_json::json!({
        "seq": c.seq,
        "time": rfc3339(r.time_us),
        "time_us": r.time_us,
        "kind": r.kind,
        "command": r.command,
        "peer": r.peer,
        "tls_subject": r.tls_subject,
        "os_user": r.os_user,
        "user": r.user,
        "key": r.key,
        "fingerprint": r.fingerprint,
        "hash_algo": r.hash_algo,
        "digests": if r.digests.is_empty() { Vec::new() } else { r.digests.split(',').collect::<Vec<_>>() },
        "outcome": r.outcome,
        "error": r.error,
        "latency_us": r.latency_us,
        "detail": r.detail,
        "prev_hash": c.prev_hash,
        "hash": c.hash,
    })
    .to_string()
}

/// The audit record of an admin verb that changes something (`None` for
/// the verbs that only read). The fingerprint is filled in by the caller
/// where the verb names a key.
pub(super) fn describe(cmd: &Command) -> Option<AdminChange> {
    let change = |command: &str, key: &str, detail: String| {
        Some(AdminChange {
            command: command.into(),
            key: key.into(),
            detail,
            ..AdminChange::default()
        })
    };
    match cmd {
        Command::ImportSignd(a) if !a.dry_run => change(
            "import-signd",
            "",
            match &a.sign_conf {
                Some(f) => format!("sign.conf {}", f.display()),
                None => "no sign.conf".to_owned(),
            },
        ),
        Command::Key(KeyCommand::Import { name, file, .. }) => {
            change("key import", name, format!("from {}", file.display()))
        }
        Command::Key(KeyCommand::Generate {
            name,
            key_type,
            uid,
            expire,
            encryption_subkey,
            ..
        }) => change(
            "key generate",
            name,
            format!(
                "{key_type:?} uid {uid:?} expire {expire} days encryption subkey \
                 {encryption_subkey}"
            ),
        ),
        Command::Key(KeyCommand::Delete { name, now, .. }) => change(
            "key delete",
            name,
            if *now {
                "destroyed now".into()
            } else {
                String::new()
            },
        ),
        Command::Key(KeyCommand::Restore { name, swap, .. }) => change(
            "key restore",
            name,
            if *swap { "swap".into() } else { String::new() },
        ),
        Command::Key(KeyCommand::Replace {
            name,
            file,
            generate,
            ..
        }) => change(
            "key replace",
            name,
            match (file, generate) {
                (Some(f), _) => format!("from {}", f.display()),
                (None, true) => "generated".into(),
                (None, false) => String::new(),
            },
        ),
        Command::Key(KeyCommand::Extend {
            name,
            days,
            expiring_within,
            by,
            shorten,
            dry_run,
        }) if !dry_run => match name {
            Some(n) => change(
                "key extend",
                n,
                format!("{days:?} days{}", if *shorten { ", --shorten" } else { "" }),
            ),
            None => change(
                "key extend",
                "",
                format!("expiring within {expiring_within:?} days by {by:?} days"),
            ),
        },
        Command::Alias(AliasCommand::Add { alias, target }) => {
            change("alias set", alias, format!("target {target}"))
        }
        Command::Alias(AliasCommand::Remove { alias }) => {
            change("alias remove", alias, String::new())
        }
        Command::Enckey(EnckeyCommand::Generate { alias }) => change(
            "enckey generate",
            "",
            alias
                .as_ref()
                .map_or(String::new(), |a| format!("alias {a}")),
        ),
        Command::Enckey(EnckeyCommand::Import { file }) => {
            change("enckey import", "", format!("from {}", file.display()))
        }
        Command::Enckey(EnckeyCommand::Delete { id, .. }) => {
            change("enckey delete", id, String::new())
        }
        Command::DefaultUser(DefaultUserCommand::Set { name, clear }) => change(
            "default-user set",
            name.as_deref().unwrap_or(""),
            if *clear {
                "cleared".into()
            } else {
                String::new()
            },
        ),
        Command::Kek(KekCommand::Create) => change("kek create", "", String::new()),
        Command::Kek(KekCommand::Rewrap { to_config }) => {
            change("kek rewrap", "", format!("to {}", to_config.display()))
        }
        Command::Kek(KekCommand::Rotate {
            to_config, finish, ..
        }) => change(
            if *finish {
                "kek rotate --finish"
            } else {
                "kek rotate"
            },
            "",
            format!("to {}", to_config.display()),
        ),
        Command::Db(DbCommand::Migrate) => change("db migrate", "", String::new()),
        Command::Init => change("init", "", String::new()),
        Command::Audit(AuditCommand::Prune { before }) => {
            change("audit prune", "", format!("before {before}"))
        }
        // Reads, checks and dry runs change nothing.
        Command::ImportSignd(_)
        | Command::CheckBlobs(_)
        | Command::Backup { .. }
        | Command::Key(
            KeyCommand::List { .. }
            | KeyCommand::Show { .. }
            | KeyCommand::Export { .. }
            | KeyCommand::Extend { .. },
        )
        | Command::Alias(AliasCommand::List { .. })
        | Command::Enckey(EnckeyCommand::List { .. })
        | Command::DefaultUser(DefaultUserCommand::Show)
        | Command::Kek(KekCommand::Status { .. })
        | Command::Db(DbCommand::Status)
        | Command::Audit(AuditCommand::Verify | AuditCommand::List { .. }) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::cli::parse_time;

    #[test]
    fn times() {
        assert_eq!(parse_time("1970-01-02", 0).unwrap(), 86_400_000_000);
        assert_eq!(parse_time("1970-01-01T00:00:01Z", 0).unwrap(), 1_000_000);
        assert_eq!(
            parse_time("2d", 3 * 86_400_000_000).unwrap(),
            86_400_000_000
        );
        assert!(parse_time("yesterday", 0)
            .unwrap_err()
            .to_string()
            .contains("bad time 'yesterday'"));
    }
}
