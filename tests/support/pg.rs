//! Scratch PostgreSQL databases for tests: one per store, because a store
//! belongs to one KEK (the KEK canary) and tests each make their own.
//!
//! `$SIGNATRUST_TEST_PG_URL` names a database on the test server whose role
//! may create databases (`scripts/start-postgres` sets that up and drops
//! the scratch databases of earlier runs). Without it the PostgreSQL
//! variants of tests are skipped with a message; CI always sets it.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::Connection;

/// The URL of a new, empty database named `st_<pid>_<n>` on the test
/// server, or `None` (after saying so) when `$SIGNATRUST_TEST_PG_URL` is
/// not set.
pub async fn scratch_database() -> Option<String> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let Ok(base) = std::env::var("SIGNATRUST_TEST_PG_URL") else {
        eprintln!("SIGNATRUST_TEST_PG_URL not set; skipping the PostgreSQL variant");
        return None;
    };
    let name = format!(
        "st_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("connecting to $SIGNATRUST_TEST_PG_URL: {e}"));
    // The name is ours (pid and counter), not input.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| {
            panic!("creating {name} (the test role needs CREATEDB: scripts/start-postgres): {e}")
        });
    conn.close().await.unwrap();
    // Same server and credentials, the new database.
    let (head, tail) = base.rsplit_once('/').expect("a URL with a database name");
    let query = tail
        .split_once('?')
        .map_or(String::new(), |(_, q)| format!("?{q}"));
    Some(format!("{head}/{name}{query}"))
}

/// [`scratch_database`] from synchronous code.
pub fn scratch_database_blocking() -> Option<String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(scratch_database())
}
