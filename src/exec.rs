//! Bounded CPU pool for signing work.
