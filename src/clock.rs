//! The one source of "now" for every time-dependent rule: the system clock, or a settable test clock.

use chrono::{DateTime, Utc};
use std::sync::{Arc, RwLock};

/// Tells the time. Socket timeouts and heartbeats use real elapsed time instead.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock an owner can set (as Stripe's test clocks): it follows the system clock until it is
/// first set, then stands still at the time it was set to until it is set again.
#[derive(Debug, Default)]
pub struct TestClock {
    frozen: RwLock<Option<DateTime<Utc>>>,
}

impl TestClock {
    pub fn set(&self, now: DateTime<Utc>) {
        // A poisoned lock only means a writer panicked mid-assignment of a Copy value: take it.
        let mut frozen = self
            .frozen
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        *frozen = Some(now);
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        let frozen = self
            .frozen
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        frozen.unwrap_or_else(Utc::now)
    }
}

/// The clock as the application holds it, plus the test clock's handle when it is enabled.
#[derive(Clone)]
pub struct Clocks {
    pub clock: Arc<dyn Clock>,
    pub test_clock: Option<Arc<TestClock>>,
}

impl Clocks {
    pub fn new(test_clock_enabled: bool) -> Self {
        if test_clock_enabled {
            let test_clock = Arc::new(TestClock::default());
            Self {
                clock: test_clock.clone(),
                test_clock: Some(test_clock),
            }
        } else {
            Self {
                clock: Arc::new(SystemClock),
                test_clock: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_set_test_clock_stands_still_until_set_again() {
        let clock = TestClock::default();
        let t1 = Utc
            .with_ymd_and_hms(2026, 1, 31, 12, 0, 0)
            .single()
            .expect("valid date");
        clock.set(t1);
        assert_eq!(clock.now(), t1);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(clock.now(), t1);
        let t2 = Utc
            .with_ymd_and_hms(2026, 2, 28, 0, 0, 0)
            .single()
            .expect("valid date");
        clock.set(t2);
        assert_eq!(clock.now(), t2);
    }

    #[test]
    fn an_unset_test_clock_follows_the_system_clock() {
        let clock = TestClock::default();
        let before = Utc::now();
        let now = clock.now();
        assert!(now >= before && now <= Utc::now());
    }
}
