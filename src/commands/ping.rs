//! `ping`: status 0, no output; extra arguments are ignored (spec §4.1).

pub(super) fn run() -> Vec<Vec<u8>> {
    Vec::new()
}
