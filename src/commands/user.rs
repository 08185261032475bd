//! The user field: hash prefix, illegal users, `map:`, default user (spec §5.1).
//!
//! Alias resolution and the existence check need the key store and happen in
//! `commands::handle`; everything here is pure.

use std::collections::BTreeMap;

use crate::wire_error::WireError;

/// User rewriting rules: plain data, built by `config` from sign.conf's
/// `user:` and `map:` and the TOML `[users]` section. The default is no
/// default user, no map, keys served locally.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserRules {
    /// `user:` — the key for an empty user field.
    pub default_user: Option<String>,
    /// `map:` — keyed by the exact `from` text, `HASH:user` or `user`.
    pub map: BTreeMap<String, String>,
    /// The pure signproxy role (spec §5.2): nothing is served locally, every
    /// request (pings with an empty user included) is forwarded.
    pub proxy_only: bool,
}

/// The user field split into its hash prefix and user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserField {
    /// The hash name exactly as sent, `None` when there was no prefix.
    pub hash: Option<String>,
    pub user: String,
}

impl UserField {
    /// Splits at the first `:` (spec §5.1 step 1). An empty or `0` prefix
    /// is no prefix, as in Perl signd (`$hashalgo ||= 'SHA1'`): SHA1, the
    /// plain `map:` entry's `SHA1:` key, forwarded without a prefix.
    pub fn parse(field: &str) -> UserField {
        match field.split_once(':') {
            Some(("" | "0", user)) => UserField {
                hash: None,
                user: user.to_string(),
            },
            Some((hash, user)) => UserField {
                hash: Some(hash.to_string()),
                user: user.to_string(),
            },
            None => UserField {
                hash: None,
                user: field.to_string(),
            },
        }
    }

    /// The hash name used for `map:` keys: as sent, `SHA1` when absent.
    pub fn hash_name(&self) -> &str {
        self.hash.as_deref().unwrap_or("SHA1")
    }
}

/// True for the bytes Perl signd's `[\000-\037]` matches: C0 controls
/// only. DEL and U+0080–U+009F (two bytes in UTF-8, neither below 0x20) are
/// not, so such users are unknown keys and such hash names bad hash
/// algorithms, as in Perl.
fn has_c0_control(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20)
}

/// Step 2 and 6: a non-empty user with `/`, a C0 control character or a
/// leading `.` is illegal; so is a hash name with C0 control characters.
pub fn check(field: &UserField) -> Result<(), WireError> {
    if let Some(h) = &field.hash {
        if has_c0_control(h) {
            return Err(WireError::IllegalHashAlgo(h.clone()));
        }
    }
    if !is_legal_user(&field.user) {
        return Err(WireError::IllegalUser(field.user.clone()));
    }
    Ok(())
}

/// True when `user` may name a key: empty, or no `/`, no C0 control
/// character and no leading `.`.
pub fn is_legal_user(user: &str) -> bool {
    user.is_empty() || !(user.starts_with('.') || user.contains('/') || has_c0_control(user))
}

impl UserRules {
    /// Steps 4 and 5: `map:` (hash-qualified entry first, case-sensitive),
    /// then the default user for an empty user.
    pub fn rewrite(&self, field: &mut UserField) {
        let qualified = format!("{}:{}", field.hash_name(), field.user);
        if let Some(to) = self.map.get(&qualified) {
            field.user = to.clone();
        } else if !field.user.is_empty() {
            if let Some(to) = self.map.get(&field.user) {
                field.user = to.clone();
            }
        }
        if field.user.is_empty() {
            if let Some(d) = &self.default_user {
                field.user = d.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> UserRules {
        let mut map = BTreeMap::new();
        map.insert("maptest".to_string(), "defaultkey@localobs".to_string());
        map.insert(
            "SHA512:mapsha512".to_string(),
            "defaultkeysec@localobs".to_string(),
        );
        UserRules {
            default_user: Some("defaultkey@localobs".into()),
            map,
            proxy_only: false,
        }
    }

    #[test]
    fn prefix_split_at_first_colon() {
        assert_eq!(
            UserField::parse("SHA256:openssl:k1"),
            UserField {
                hash: Some("SHA256".into()),
                user: "openssl:k1".into()
            }
        );
        assert_eq!(
            UserField::parse("alice"),
            UserField {
                hash: None,
                user: "alice".into()
            }
        );
        assert_eq!(UserField::parse("").hash_name(), "SHA1");
    }

    #[test]
    fn map_is_case_sensitive_on_the_hash() {
        let r = rules();
        let mut f = UserField::parse("SHA512:mapsha512");
        r.rewrite(&mut f);
        assert_eq!(f.user, "defaultkeysec@localobs");
        let mut f = UserField::parse("sha512:mapsha512");
        r.rewrite(&mut f);
        assert_eq!(f.user, "mapsha512");
        let mut f = UserField::parse("maptest");
        r.rewrite(&mut f);
        assert_eq!(f.user, "defaultkey@localobs");
    }

    #[test]
    fn empty_user_gets_default() {
        let mut f = UserField::parse("SHA256:");
        rules().rewrite(&mut f);
        assert_eq!(f.user, "defaultkey@localobs");
        assert_eq!(f.hash.as_deref(), Some("SHA256"));
    }

    #[test]
    fn illegal_users() {
        for u in ["a/b", ".hidden", "x\u{1}"] {
            assert!(
                matches!(check(&UserField::parse(u)), Err(WireError::IllegalUser(_))),
                "{u}"
            );
        }
        assert!(check(&UserField::parse("")).is_ok());
        assert!(check(&UserField::parse("a.b@c")).is_ok());
    }
}
