//! API credentials. Principals' tokens (from the bundle's credential
//! references) and peer regions' node tokens (from the cluster file) are
//! kept only as SHA-256 hashes; a presented token is hashed and compared
//! with every known hash in constant time, so neither the match nor its
//! position leaks through timing.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Who a credential belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A principal of the policy bundle.
    Principal(String),
    /// A peer region's node (forwarding).
    Region(String),
}

/// The hashes of every credential a node accepts.
#[derive(Default)]
pub struct Credentials {
    known: Vec<([u8; 32], Caller)>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({} known)", self.known.len())
    }
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Credentials {
    /// Accepts `token` as `caller`'s (the token itself is not kept).
    pub fn add(&mut self, caller: Caller, token: &str) {
        self.known.push((hash(token), caller));
    }

    /// Accepts the token whose SHA-256 is `sha256` as `caller`'s: a peer
    /// region's, known by the hash in the cluster file alone.
    pub fn add_hash(&mut self, caller: Caller, sha256: [u8; 32]) {
        self.known.push((sha256, caller));
    }

    /// The caller a presented token belongs to.
    pub fn check(&self, token: &str) -> Option<Caller> {
        let presented = hash(token);
        let mut found = None;
        for (h, caller) in &self.known {
            // Every hash is compared, whatever matched before.
            if bool::from(h.ct_eq(&presented)) {
                found = Some(caller.clone());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_map_to_their_callers_and_nothing_else_does() {
        let mut c = Credentials::default();
        c.add(Caller::Principal("app".into()), "app-token-0123456789");
        c.add(Caller::Region("eu-no".into()), "node-token-0123456789");
        assert_eq!(
            c.check("app-token-0123456789"),
            Some(Caller::Principal("app".into()))
        );
        assert_eq!(
            c.check("node-token-0123456789"),
            Some(Caller::Region("eu-no".into()))
        );
        assert_eq!(c.check("app-token-012345678"), None);
        assert_eq!(c.check(""), None);
        assert!(!format!("{c:?}").contains("token"));
    }
}
