//! WireGuard keys: 32 bytes, written as standard base64 (44 characters).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use boringtun::x25519;
use std::fmt;

/// Why a key string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not valid base64.
    #[error("not valid base64")]
    Base64,
    /// Decoded, but not 32 bytes.
    #[error("decodes to {0} bytes, a key has 32")]
    Length(usize),
}

fn decode_key(text: &str) -> Result<[u8; 32], KeyError> {
    let bytes = STANDARD.decode(text.trim()).map_err(|_| KeyError::Base64)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| KeyError::Length(bytes.len()))
}

macro_rules! key_type {
    ($(#[$doc:meta])* $name:ident, redact = $redact:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 32]);

        impl $name {
            /// Wraps raw key bytes.
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The raw key bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// Parses standard base64 (what `wg genkey` prints).
            ///
            /// # Errors
            /// [`KeyError`] when the text is not base64 or not 32 bytes long.
            pub fn from_base64(text: &str) -> Result<Self, KeyError> {
                decode_key(text).map(Self)
            }

            /// Standard base64, as `wg` prints keys.
            pub fn to_base64(&self) -> String {
                STANDARD.encode(self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if $redact {
                    f.write_str(concat!(stringify!($name), "(<redacted>)"))
                } else {
                    write!(f, "{}({})", stringify!($name), self.to_base64())
                }
            }
        }
    };
}

key_type!(
    /// A Curve25519 private key. `Debug` never prints it.
    PrivateKey,
    redact = true
);
key_type!(
    /// A Curve25519 public key; identifies a peer.
    PublicKey,
    redact = false
);
key_type!(
    /// A 32-byte preshared key. `Debug` never prints it.
    PresharedKey,
    redact = true
);

impl PrivateKey {
    /// A new random private key from the OS RNG, clamped like `wg genkey`.
    pub fn generate() -> Self {
        let mut bytes = x25519::StaticSecret::random_from_rng(rand_core::OsRng).to_bytes();
        // Clamp as `wg genkey` does, so the printed key is byte-identical to wg's form.
        bytes[0] &= 248;
        bytes[31] &= 127;
        bytes[31] |= 64;
        Self(bytes)
    }

    /// The matching public key (what `wg pubkey` prints).
    pub fn public_key(&self) -> PublicKey {
        let secret = x25519::StaticSecret::from(self.0);
        PublicKey(x25519::PublicKey::from(&secret).to_bytes())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checked with `echo yAnz…Bmk= | wg pubkey` and Python `cryptography`'s X25519.
    const WG_PRIVATE: &str = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
    const WG_PUBLIC: &str = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";

    #[test]
    fn public_key_matches_wg_pubkey_test_vector() {
        let private = PrivateKey::from_base64(WG_PRIVATE).unwrap();
        assert_eq!(private.public_key().to_base64(), WG_PUBLIC);
    }

    #[test]
    fn generated_key_is_clamped_like_wg_genkey() {
        let bytes = *PrivateKey::generate().as_bytes();
        assert_eq!(bytes[0] & 7, 0);
        assert_eq!(bytes[31] & 0xc0, 0x40);
    }

    #[test]
    fn generated_keys_differ_and_survive_base64() {
        let a = PrivateKey::generate();
        let b = PrivateKey::generate();
        assert_ne!(a, b);
        let reparsed = PrivateKey::from_base64(&a.to_base64()).unwrap();
        assert_eq!(reparsed.public_key(), a.public_key());
        assert_eq!(
            PublicKey::from_base64(&a.public_key().to_base64()),
            Ok(a.public_key())
        );
    }

    #[test]
    fn bad_text_is_rejected_with_the_cause() {
        assert_eq!(PublicKey::from_base64("not base64!"), Err(KeyError::Base64));
        assert_eq!(PublicKey::from_base64("AAAA"), Err(KeyError::Length(3)));
        assert_eq!(
            PublicKey::from_base64(&WG_PUBLIC[..43]),
            Err(KeyError::Base64),
            "padding is required"
        );
    }

    #[test]
    fn debug_redacts_secrets_but_shows_public_keys() {
        let private = PrivateKey::from_base64(WG_PRIVATE).unwrap();
        let psk = PresharedKey::from_bytes(*private.as_bytes());
        assert_eq!(format!("{private:?}"), "PrivateKey(<redacted>)");
        assert_eq!(format!("{psk:?}"), "PresharedKey(<redacted>)");
        assert_eq!(
            format!("{:?}", private.public_key()),
            format!("PublicKey({WG_PUBLIC})")
        );
    }
}
