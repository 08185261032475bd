//! RFC 6979 deterministic nonces over OpenSSL HMAC.
