//! gpg round trip (filled in below).
