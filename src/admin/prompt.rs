//! Questions on the terminal: a yes/no confirmation and a passphrase read
//! with echo off. Only when stdin is a terminal; scripts use `--yes` and
//! `--passphrase-file`.
use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context};
use secrecy::SecretString;
use zeroize::Zeroizing;

/// Whether stdin is a terminal (someone can answer).
pub(super) fn is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Asks `question [y/N]` on stderr; true only for "y" or "yes".
pub(super) fn confirm(question: &str) -> anyhow::Result<bool> {
    let _ = write!(std::io::stderr().lock(), "{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Reads a line from the terminal with echo off (restored afterwards).
/// termios through libc: the only unsafe code of the admin tool.
#[allow(unsafe_code)]
pub(super) fn secret(question: &str) -> anyhow::Result<SecretString> {
    let _ = write!(std::io::stderr().lock(), "{question}");
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios is plain data; tcgetattr fills it for a terminal fd.
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd is stdin, `old` is a valid termios.
    if unsafe { libc::tcgetattr(fd, &mut old) } != 0 {
        bail!("cannot read a passphrase: stdin is not a terminal");
    }
    let mut quiet = old;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: as above.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut line = Zeroizing::new(String::new());
    let read = std::io::stdin().lock().read_line(&mut line);
    // SAFETY: restores the settings read above.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
    read.context("cannot read the passphrase")?;
    let phrase = line.trim_end_matches(['\n', '\r']).to_owned();
    Ok(SecretString::from(phrase))
}
