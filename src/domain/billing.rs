//! Billing periods and limits (DESIGN section 2, "Billing periods, packages and
//! auto-renewal"): periods run monthly from the account's anchor, an anchor on the 29th to
//! 31st falls on the last day of shorter months and returns to its day after (Jan 31 ->
//! Feb 28 -> Mar 31, as Stripe does). Pure functions.

use chrono::{DateTime, Datelike, Months, Utc};

/// Conversations one package adds per period.
pub const CONVERSATIONS_PER_PACKAGE: i32 = 100;
/// Share of the limit at which owners are warned.
pub const WARNING_PERCENT: i64 = 80;

/// One billing period: `[start, end)`, the `index`-th since the anchor (0 = the first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub index: u32,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The start of the `index`-th period: the anchor plus `index` months, clamped to the end
/// of shorter months (always counted from the anchor, so the day comes back).
pub fn period_start(anchor: DateTime<Utc>, index: u32) -> DateTime<Utc> {
    anchor
        .checked_add_months(Months::new(index))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

pub fn period(anchor: DateTime<Utc>, index: u32) -> Period {
    Period {
        index,
        start: period_start(anchor, index),
        end: period_start(anchor, index.saturating_add(1)),
    }
}

/// The period that contains `now` (the first one when `now` is before the anchor).
pub fn period_at(anchor: DateTime<Utc>, now: DateTime<Utc>) -> Period {
    if now < anchor {
        return period(anchor, 0);
    }
    let months = (now.year() - anchor.year()) * 12 + now.month() as i32 - anchor.month() as i32;
    let mut index = u32::try_from(months.max(0)).unwrap_or(0);
    while index > 0 && period_start(anchor, index) > now {
        index -= 1;
    }
    while period_start(anchor, index + 1) <= now {
        index += 1;
    }
    period(anchor, index)
}

/// How full the period's limit is, for warnings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    Fine,
    /// At least 80 % used.
    Warning,
    /// Nothing left.
    Reached,
}

/// A period's limit: the plan's allowance plus the conversations of its packages (rule 6).
pub fn limit(included: i32, from_packages: i32) -> i64 {
    i64::from(included) + i64::from(from_packages)
}

/// Conversations left: never below zero.
pub fn remaining(used: i64, limit: i64) -> i64 {
    (limit - used).max(0)
}

/// Whole percent of the limit used, for the meter (100 when the limit is zero).
pub fn percent_used(used: i64, limit: i64) -> i64 {
    if limit <= 0 {
        100
    } else {
        (used * 100 / limit).min(100)
    }
}

/// Whether the billing job has renewed the account into `period` already: its next renewal
/// (unknown for an account from before billing) lies after the period's start.
pub fn renewed_into(period: &Period, next_renewal_at: Option<DateTime<Utc>>) -> bool {
    next_renewal_at.is_none_or(|next| period.start < next)
}

pub fn usage(used: i64, limit: i64) -> Usage {
    if limit <= 0 || used >= limit {
        Usage::Reached
    } else if used * 100 >= limit * WARNING_PERCENT {
        Usage::Warning
    } else {
        Usage::Fine
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An RFC 3339 instant (the package tests use it too).
    pub(crate) fn at(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn starts(anchor: &str, n: u32) -> Vec<String> {
        (0..n)
            .map(|i| period_start(at(anchor), i).format("%Y-%m-%d").to_string())
            .collect()
    }

    #[test]
    fn an_anchor_on_the_31st_clamps_to_month_ends_and_comes_back() {
        assert_eq!(
            starts("2026-01-31T10:00:00Z", 5),
            [
                "2026-01-31",
                "2026-02-28",
                "2026-03-31",
                "2026-04-30",
                "2026-05-31"
            ]
        );
        assert_eq!(
            starts("2028-01-31T10:00:00Z", 3),
            ["2028-01-31", "2028-02-29", "2028-03-31"],
            "leap year"
        );
    }

    #[test]
    fn anchors_on_the_29th_and_30th_across_february_in_leap_and_common_years() {
        assert_eq!(
            starts("2027-01-29T00:00:00Z", 3),
            ["2027-01-29", "2027-02-28", "2027-03-29"]
        );
        assert_eq!(
            starts("2028-01-29T00:00:00Z", 3),
            ["2028-01-29", "2028-02-29", "2028-03-29"]
        );
        assert_eq!(
            starts("2027-01-30T00:00:00Z", 3),
            ["2027-01-30", "2027-02-28", "2027-03-30"]
        );
        assert_eq!(
            starts("2028-01-30T00:00:00Z", 3),
            ["2028-01-30", "2028-02-29", "2028-03-30"]
        );
    }

    #[test]
    fn the_period_at_a_time_contains_it() {
        let anchor = at("2026-01-31T10:00:00Z");
        let p = period_at(anchor, at("2026-03-15T00:00:00Z"));
        assert_eq!(p.index, 1);
        assert_eq!(p.start, at("2026-02-28T10:00:00Z"));
        assert_eq!(p.end, at("2026-03-31T10:00:00Z"));
        assert_eq!(
            period_at(anchor, at("2026-03-31T10:00:00Z")).index,
            2,
            "a period starts at its instant"
        );
        assert_eq!(period_at(anchor, at("2026-03-31T09:59:59Z")).index, 1);
        assert_eq!(period_at(anchor, at("2025-12-01T00:00:00Z")).index, 0);
        assert_eq!(period_at(anchor, at("2036-01-31T10:00:00Z")).index, 120);
    }

    proptest::proptest! {
        /// Every instant after the anchor lies in exactly the period `period_at` names.
        #[test]
        fn period_at_always_contains_the_time(
            anchor_secs in 1_600_000_000i64..1_900_000_000,
            offset in 0i64..400_000_000,
        ) {
            let anchor = DateTime::from_timestamp(anchor_secs, 0).expect("anchor");
            let now = DateTime::from_timestamp(anchor_secs + offset, 0).expect("now");
            let p = period_at(anchor, now);
            proptest::prop_assert!(p.start <= now && now < p.end);
            proptest::prop_assert!(p.end - p.start >= chrono::Duration::days(28));
            proptest::prop_assert!(p.end - p.start <= chrono::Duration::days(31));
        }
    }

    #[test]
    fn usage_warns_at_80_percent_and_stops_at_the_limit() {
        assert_eq!(usage(79, 100), Usage::Fine);
        assert_eq!(usage(80, 100), Usage::Warning);
        assert_eq!(usage(100, 100), Usage::Reached);
        assert_eq!(usage(0, 0), Usage::Reached);
    }

    #[test]
    fn the_limit_is_the_allowance_plus_packages_and_remaining_never_negative() {
        assert_eq!(limit(100, 300), 400);
        assert_eq!(remaining(150, 400), 250);
        assert_eq!(remaining(450, 400), 0);
        assert_eq!(percent_used(150, 400), 37);
        assert_eq!(percent_used(450, 400), 100);
        assert_eq!(percent_used(0, 0), 100);
    }

    #[test]
    fn a_period_is_renewed_once_the_next_renewal_lies_after_its_start() {
        let anchor = at("2026-01-01T00:00:00Z");
        let february = period(anchor, 1);
        assert!(renewed_into(&february, Some(at("2026-03-01T00:00:00Z"))));
        assert!(
            !renewed_into(&february, Some(february.start)),
            "due, not run yet"
        );
        assert!(
            renewed_into(&february, None),
            "an account from before billing"
        );
    }
}
