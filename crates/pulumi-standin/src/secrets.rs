//! The passphrase secrets provider of the local backend.
//!
//! The real CLI derives an AES key from the passphrase and a salt stored as `encryptionsalt:` in
//! `Pulumi.<stack>.yaml`. The stand-in only needs something reversible, keyed by the passphrase,
//! that never shows the plain value: a SHA-256 keystream XOR (`v1:<nonce hex>:<cipher hex>`).
//! It is not meant to protect anything.

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{Result, StandinError};

/// The error texts of the real passphrase provider.
pub const MISSING_PASSPHRASE: &str =
    "passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables";
pub const INCORRECT_PASSPHRASE: &str = "incorrect passphrase, please set PULUMI_CONFIG_PASSPHRASE to the correct \
passphrase or set PULUMI_CONFIG_PASSPHRASE_FILE to a file containing the passphrase";

/// The passphrase from `PULUMI_CONFIG_PASSPHRASE` (an empty string is valid) or the file named by
/// `PULUMI_CONFIG_PASSPHRASE_FILE`.
pub fn passphrase_from_env() -> Result<String> {
    if let Ok(p) = std::env::var("PULUMI_CONFIG_PASSPHRASE") {
        return Ok(p);
    }
    if let Ok(file) = std::env::var("PULUMI_CONFIG_PASSPHRASE_FILE") {
        return std::fs::read_to_string(&file)
            .map_err(|e| StandinError::failed(format!("unable to read PULUMI_CONFIG_PASSPHRASE_FILE: {e}")));
    }
    Err(StandinError::failed(MISSING_PASSPHRASE))
}

/// Encrypts and decrypts config secrets and secret outputs of one stack.
pub struct Crypter {
    key: [u8; 32],
}

impl Crypter {
    /// A new salt for a new stack, and the crypter for it.
    pub fn create(passphrase: &str) -> (String, Crypter) {
        let mut salt = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut salt);
        let salt = hex::encode(salt);
        let crypter = Crypter::derive(passphrase, &salt);
        let check = crypter.check_value();
        (format!("v1:{salt}:{check}"), crypter)
    }

    /// The crypter for an existing `encryptionsalt`; fails on a wrong passphrase.
    pub fn open(passphrase: &str, encryption_salt: &str) -> Result<Crypter> {
        let mut parts = encryption_salt.split(':');
        let (Some("v1"), Some(salt), Some(check)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(StandinError::failed(format!(
                "unrecognized encryptionsalt '{encryption_salt}'"
            )));
        };
        let crypter = Crypter::derive(passphrase, salt);
        if crypter.check_value() != check {
            return Err(StandinError::failed(INCORRECT_PASSPHRASE));
        }
        Ok(crypter)
    }

    fn derive(passphrase: &str, salt: &str) -> Crypter {
        let mut h = Sha256::new();
        h.update(b"pulumi-standin:v1:");
        h.update(salt.as_bytes());
        h.update(b":");
        h.update(passphrase.as_bytes());
        Crypter {
            key: h.finalize().into(),
        }
    }

    fn check_value(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(b"check");
        hex::encode(&h.finalize()[..8])
    }

    fn keystream_xor(&self, nonce: &[u8], data: &[u8]) -> Vec<u8> {
        data.chunks(32)
            .enumerate()
            .flat_map(|(i, chunk)| {
                let mut h = Sha256::new();
                h.update(self.key);
                h.update(nonce);
                h.update((i as u64).to_le_bytes());
                let block = h.finalize();
                chunk.iter().zip(block).map(|(b, k)| b ^ k).collect::<Vec<_>>()
            })
            .collect()
    }

    pub fn encrypt(&self, plain: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let cipher = self.keystream_xor(&nonce, plain.as_bytes());
        format!("v1:{}:{}", hex::encode(nonce), hex::encode(cipher))
    }

    pub fn decrypt(&self, ciphertext: &str) -> Result<String> {
        let bad = || StandinError::failed("failed to decrypt: malformed ciphertext");
        let mut parts = ciphertext.split(':');
        let (Some("v1"), Some(nonce), Some(cipher)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let nonce = hex::decode(nonce).map_err(|_| bad())?;
        let cipher = hex::decode(cipher).map_err(|_| bad())?;
        String::from_utf8(self.keystream_xor(&nonce, &cipher)).map_err(|_| bad())
    }
}
