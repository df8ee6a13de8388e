//! Password hashing with argon2id (OWASP: m=19 MiB, t=2, p=1) on blocking threads, bounded.

use super::ServiceError;
use crate::telemetry::spawn_blocking_with_tracing;
use anyhow::Context as _;
use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::{SaltString, rand_core::OsRng},
};
use std::{sync::Arc, time::Duration};
use tokio::sync::{OnceCell, Semaphore};

/// OWASP's argon2id recommendation: 19 MiB of memory, 2 iterations, 1 lane.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;
/// How long a sign-in waits for a hashing slot before the server answers "busy":
/// a flood of sign-ins gets refused instead of queueing without bound.
const HASH_QUEUE_WAIT: Duration = Duration::from_secs(5);

/// Hashes and verifies passwords; at most one hash per core runs at a time.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    dummy_hash: Arc<OnceCell<String>>,
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

impl Passwords {
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            permits: Arc::new(Semaphore::new(cores)),
            dummy_hash: Arc::new(OnceCell::new()),
        }
    }

    fn argon2() -> anyhow::Result<Argon2<'static>> {
        let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None)
            .map_err(|error| anyhow::anyhow!("argon2 parameters: {error}"))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    async fn run_bounded<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<R> + Send + 'static,
    ) -> Result<R, ServiceError> {
        let _permit = tokio::time::timeout(HASH_QUEUE_WAIT, self.permits.acquire())
            .await
            .map_err(|_| ServiceError::Busy)?
            .context("password hasher closed")?;
        let result = spawn_blocking_with_tracing(work)
            .await
            .context("password hashing task failed")??;
        Ok(result)
    }

    /// Hashes a new password into a PHC string.
    #[tracing::instrument(skip_all)]
    pub async fn hash(&self, password: &str) -> Result<String, ServiceError> {
        let password = password.to_owned();
        self.run_bounded(move || {
            let salt = SaltString::generate(&mut OsRng);
            let hash = Self::argon2()?
                .hash_password(password.as_bytes(), &salt)
                .map_err(|error| anyhow::anyhow!("hashing a password: {error}"))?;
            Ok(hash.to_string())
        })
        .await
    }

    /// Verifies `password` against `hash`. With no hash (unknown user) it still spends the same
    /// time on a dummy hash and answers false, so timing does not tell which emails exist.
    #[tracing::instrument(skip_all)]
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, ServiceError> {
        let (hash, known) = match hash {
            Some(hash) => (hash.to_owned(), true),
            None => (self.dummy_hash().await?, false),
        };
        let password = password.to_owned();
        let matches = self
            .run_bounded(move || {
                let parsed = PasswordHash::new(&hash).map_err(|error| {
                    anyhow::anyhow!("stored password hash is malformed: {error}")
                })?;
                Ok(Self::argon2()?
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok())
            })
            .await?;
        Ok(known && matches)
    }

    async fn dummy_hash(&self) -> Result<String, ServiceError> {
        self.dummy_hash
            .get_or_try_init(|| async {
                let throwaway = super::random_text(24);
                self.hash(&throwaway).await
            })
            .await
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let passwords = Passwords::new();
        let hash = passwords.hash("correct horse").await.expect("hashes");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            passwords
                .verify("correct horse", Some(&hash))
                .await
                .expect("verifies")
        );
        assert!(
            !passwords
                .verify("wrong horse", Some(&hash))
                .await
                .expect("verifies")
        );
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        let passwords = Passwords::new();
        assert!(!passwords.verify("anything", None).await.expect("verifies"));
    }
}
