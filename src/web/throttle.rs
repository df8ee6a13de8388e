//! Throttling in memory, per node: sign-in per email and per client IP, widget connections
//! per client IP, widget uploads per visitor.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::{net::IpAddr, num::NonZeroU32, time::Duration};

/// Attempts one email may make in a burst, then one more per minute: stops password guessing
/// against one account without locking its owner out for long.
const PER_EMAIL_BURST: u32 = 5;
const PER_EMAIL_PERIOD: Duration = Duration::from_secs(60);
/// Attempts one IP may make in a burst, then one more every 10 s: an office behind one NAT can
/// still sign in, a script trying many emails cannot.
const PER_IP_BURST: u32 = 30;
const PER_IP_PERIOD: Duration = Duration::from_secs(10);
/// Forget idle keys once this many are tracked, so memory stays bounded.
const MAX_TRACKED_KEYS: usize = 100_000;

fn quota(burst: u32, period: Duration) -> Quota {
    let burst = NonZeroU32::MIN.saturating_add(burst.saturating_sub(1));
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
        .allow_burst(burst)
}

pub struct SignInThrottle {
    by_email: KeyedThrottle<String>,
    by_ip: KeyedThrottle<IpAddr>,
}

impl Default for SignInThrottle {
    fn default() -> Self {
        Self {
            by_email: KeyedThrottle::new(PER_EMAIL_BURST, PER_EMAIL_PERIOD),
            by_ip: KeyedThrottle::new(PER_IP_BURST, PER_IP_PERIOD),
        }
    }
}

impl SignInThrottle {
    /// Takes one attempt for this IP and this email; false when either is over its quota.
    pub fn allow(&self, ip: Option<IpAddr>, email: &str) -> bool {
        let ip_ok = ip.is_none_or(|ip| self.by_ip.allow(&ip));
        let email_ok = self.by_email.allow(&email.trim().to_lowercase());
        ip_ok && email_ok
    }
}

/// Widget connections one IP may open in a burst, then one more a second: a shop's office
/// behind one NAT browses freely, a script reconnecting in a loop (each time a new visitor
/// row and a frame to every agent) is held back.
const CONNECT_BURST: u32 = 60;
const CONNECT_PERIOD: Duration = Duration::from_secs(1);

/// A keyed rate limiter that forgets idle keys once it tracks [`MAX_TRACKED_KEYS`].
pub struct KeyedThrottle<K: std::hash::Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: std::hash::Hash + Eq + Clone> KeyedThrottle<K> {
    fn new(burst: u32, period: Duration) -> Self {
        Self {
            limiter: RateLimiter::keyed(quota(burst, period)),
        }
    }

    /// Takes one for `key`; false when it is over its quota.
    pub fn allow(&self, key: &K) -> bool {
        if self.limiter.len() > MAX_TRACKED_KEYS {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(key).is_ok()
    }
}

/// Throttles `/ws/widget` upgrades per client IP (in memory, per node).
pub struct ConnectThrottle(KeyedThrottle<IpAddr>);

impl Default for ConnectThrottle {
    fn default() -> Self {
        Self(KeyedThrottle::new(CONNECT_BURST, CONNECT_PERIOD))
    }
}

impl ConnectThrottle {
    pub fn allow(&self, ip: Option<IpAddr>) -> bool {
        ip.is_none_or(|ip| self.0.allow(&ip))
    }
}

/// Files one visitor may upload in a burst, then one more every 3 s (20 a minute): a visitor
/// attaching a handful of photos is never held back, a script filling the file store is.
const UPLOAD_BURST: u32 = 20;
const UPLOAD_PERIOD: Duration = Duration::from_secs(3);

/// Throttles the widget's uploads per visitor (in memory, per node).
pub struct UploadThrottle(KeyedThrottle<uuid::Uuid>);

impl Default for UploadThrottle {
    fn default() -> Self {
        Self(KeyedThrottle::new(UPLOAD_BURST, UPLOAD_PERIOD))
    }
}

impl UploadThrottle {
    pub fn allow(&self, visitor_id: uuid::Uuid) -> bool {
        self.0.allow(&visitor_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_throttled_after_its_burst_and_others_are_not() {
        let throttle = SignInThrottle::default();
        let ip = Some(IpAddr::from([127, 0, 0, 1]));
        for _ in 0..PER_EMAIL_BURST {
            assert!(throttle.allow(ip, "a@example.com"));
        }
        assert!(!throttle.allow(ip, "A@example.com "));
        assert!(throttle.allow(ip, "b@example.com"));
    }

    #[test]
    fn widget_connections_are_throttled_per_ip() {
        let throttle = ConnectThrottle::default();
        let ip = Some(IpAddr::from([10, 0, 0, 9]));
        for _ in 0..CONNECT_BURST {
            assert!(throttle.allow(ip));
        }
        assert!(!throttle.allow(ip));
        assert!(throttle.allow(Some(IpAddr::from([10, 0, 0, 10]))));
    }

    #[test]
    fn a_visitors_uploads_are_throttled_after_the_burst_and_others_are_not() {
        let throttle = UploadThrottle::default();
        let visitor = uuid::Uuid::new_v4();
        for _ in 0..UPLOAD_BURST {
            assert!(throttle.allow(visitor));
        }
        assert!(!throttle.allow(visitor));
        assert!(throttle.allow(uuid::Uuid::new_v4()));
    }

    #[test]
    fn an_ip_is_throttled_across_emails() {
        let throttle = SignInThrottle::default();
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        for n in 0..PER_IP_BURST {
            assert!(throttle.allow(ip, &format!("user{n}@example.com")));
        }
        assert!(!throttle.allow(ip, "fresh@example.com"));
        assert!(throttle.allow(Some(IpAddr::from([10, 0, 0, 2])), "other@example.com"));
    }
}
