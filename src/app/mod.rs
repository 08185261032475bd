//! What both binaries share, and nothing of their own: the global flags and
//! the daemon's command line ([`cli`]), opening the store and its KEK
//! ([`store`]), exit statuses ([`exit`]), process hardening and the I/O
//! runtime ([`process`]), and the one loader of an obs-signd installation's
//! state ([`signd_state`], reading the gpg home through [`gpg_home`]).
//!
//! `daemon` (signatrustd) and `admin` (signatrust-admin) both build on this
//! module and never on each other; it names neither of them.

pub mod cli;
pub mod exit;
pub mod gpg_home;
pub mod process;
pub mod signd_state;
pub mod store;

pub use process::{harden_process, lock_memory, runtime};
pub use store::{
    aws_kms_settings, create_private_dir, open_kek, open_store, open_store_with, pkcs11_settings,
    refuse_new_kek_for_claimed_store,
};
