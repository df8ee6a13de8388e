//! Package arithmetic (DESIGN section 2, "Billing periods, packages and auto-renewal"): the
//! conversations packages add to a period, how many more the plan's cap allows, and what a
//! renewal does with each package. Pure functions of a package's terms and a period.

use super::billing::{CONVERSATIONS_PER_PACKAGE, Period};
use chrono::{DateTime, Utc};

/// A bought package (or several bought together) as the arithmetic sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackageTerms {
    /// Conversations it adds per period (quantity × 100).
    pub conversations: i32,
    pub auto_renew: bool,
    pub active_from: DateTime<Utc>,
    /// The end of the last period paid for.
    pub active_until: DateTime<Utc>,
    pub expired_at: Option<DateTime<Utc>>,
}

/// What the renewal into a period does with a package.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// Paid for the period already, or expired before: nothing to do.
    NotDue,
    /// Renewed (and billed) until the period's end.
    Renew,
    /// Expires at the period's start.
    Expire(ExpiryReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpiryReason {
    /// Its owner turned renewal off.
    RenewalOff,
    /// The account's plan (after a downgrade) cannot hold packages.
    PlanHasNoPackages,
}

impl PackageTerms {
    /// Paid for `period` (and not expired before it began): its conversations are in the
    /// period's limit.
    pub fn counts_in(&self, period: &Period) -> bool {
        self.expired_at.is_none_or(|at| at > period.start)
            && self.active_from < period.end
            && self.active_until > period.start
    }

    /// In `period`'s limit once the period's renewal has run: paid for it already, or
    /// renewing into it.
    pub fn counts_after_renewal(&self, period: &Period) -> bool {
        self.expired_at.is_none()
            && self.active_from < period.end
            && (self.active_until > period.start || self.auto_renew)
    }

    /// Paid for the period containing `now` and not expired.
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.expired_at.is_none() && self.active_until > now
    }

    /// When it renews and is billed next: the end of the period paid for, while it is active
    /// and renewal is on.
    pub fn renews_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        (self.active_at(now) && self.auto_renew).then_some(self.active_until)
    }

    /// Renewed at the end of `period` (a line of the upcoming invoice).
    pub fn renews_after(&self, period: &Period) -> bool {
        self.expired_at.is_none() && self.auto_renew && self.active_until >= period.end
    }

    /// What the renewal into `period` does with it; `plan_allows_packages` is false when the
    /// plan's package cap is zero.
    pub fn renewal(&self, period: &Period, plan_allows_packages: bool) -> Renewal {
        if self.expired_at.is_some() || self.active_until > period.start {
            Renewal::NotDue
        } else if self.auto_renew && plan_allows_packages {
            Renewal::Renew
        } else if self.auto_renew {
            Renewal::Expire(ExpiryReason::PlanHasNoPackages)
        } else {
            Renewal::Expire(ExpiryReason::RenewalOff)
        }
    }
}

/// Conversations the packages add to `period` (paid for it already).
pub fn conversations_in(packages: &[PackageTerms], period: &Period) -> i32 {
    packages
        .iter()
        .filter(|p| p.counts_in(period))
        .map(|p| p.conversations)
        .sum()
}

/// Conversations the packages will add to `period` once its renewal has run.
pub fn conversations_after_renewal(packages: &[PackageTerms], period: &Period) -> i32 {
    packages
        .iter()
        .filter(|p| p.counts_after_renewal(period))
        .map(|p| p.conversations)
        .sum()
}

/// Conversations `quantity` packages add per period.
pub fn conversations_of(quantity: i32) -> i32 {
    quantity.saturating_mul(CONVERSATIONS_PER_PACKAGE)
}

/// Whether buying `quantity` more packages keeps the conversations held in a period within
/// the plan's cap: the conversations they add, or how many packages may still be bought.
pub fn within_cap(cap: i32, held: i32, quantity: i32) -> Result<i32, i32> {
    let adding = conversations_of(quantity);
    if held.saturating_add(adding) > cap {
        Err((cap - held).max(0) / CONVERSATIONS_PER_PACKAGE)
    } else {
        Ok(adding)
    }
}

/// Conversations the held packages add beyond the plan's cap (after a downgrade).
pub fn over_cap(cap: i32, held: i32) -> i32 {
    (held - cap).max(0)
}

/// The price of `quantity` units (an invoice line), in minor units.
pub fn amount(unit_minor: i64, quantity: i32) -> i64 {
    unit_minor.saturating_mul(i64::from(quantity))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::billing::{period_at, tests::at};

    /// The period of January 2026 (anchor 2026-01-01).
    fn january() -> Period {
        period_at(at("2026-01-01T00:00:00Z"), at("2026-01-15T00:00:00Z"))
    }

    fn bought(from: &str, until: &str, auto_renew: bool) -> PackageTerms {
        PackageTerms {
            conversations: 100,
            auto_renew,
            active_from: at(from),
            active_until: at(until),
            expired_at: None,
        }
    }

    #[test]
    fn a_package_counts_in_the_periods_it_is_paid_for_only() {
        let january = january();
        let february = period_at(january.start, january.end);
        let package = bought("2026-01-10T00:00:00Z", "2026-02-01T00:00:00Z", true);
        assert!(package.counts_in(&january));
        assert!(!package.counts_in(&february), "not renewed yet");
        assert!(package.counts_after_renewal(&february), "it renews");
        let off = PackageTerms {
            auto_renew: false,
            ..package
        };
        assert!(!off.counts_after_renewal(&february), "renewal off");
        let expired = PackageTerms {
            expired_at: Some(at("2026-01-01T00:00:00Z")),
            ..package
        };
        assert!(
            !expired.counts_in(&january),
            "expired at the period's start"
        );
    }

    #[test]
    fn conversations_add_up_over_the_packages_of_the_period() {
        let january = january();
        let packages = [
            bought("2026-01-10T00:00:00Z", "2026-02-01T00:00:00Z", true),
            PackageTerms {
                conversations: 300,
                ..bought("2026-01-12T00:00:00Z", "2026-02-01T00:00:00Z", false)
            },
            bought("2025-11-10T00:00:00Z", "2025-12-01T00:00:00Z", false),
        ];
        assert_eq!(conversations_in(&packages, &january), 400);
        let february = period_at(january.start, january.end);
        assert_eq!(conversations_after_renewal(&packages, &february), 100);
    }

    #[test]
    fn the_cap_allows_whole_packages_up_to_it() {
        assert_eq!(within_cap(500, 0, 5), Ok(500));
        assert_eq!(within_cap(500, 300, 3), Err(2));
        assert_eq!(
            within_cap(500, 600, 1),
            Err(0),
            "held over the cap after a downgrade"
        );
        assert_eq!(within_cap(0, 0, 1), Err(0));
        assert_eq!(over_cap(500, 600), 100);
        assert_eq!(over_cap(500, 300), 0);
    }

    #[test]
    fn a_renewal_renews_enabled_packages_and_expires_the_others() {
        let february = period_at(january().start, january().end);
        let due = bought("2026-01-10T00:00:00Z", "2026-02-01T00:00:00Z", true);
        assert_eq!(due.renewal(&february, true), Renewal::Renew);
        assert_eq!(
            due.renewal(&february, false),
            Renewal::Expire(ExpiryReason::PlanHasNoPackages)
        );
        let off = PackageTerms {
            auto_renew: false,
            ..due
        };
        assert_eq!(
            off.renewal(&february, true),
            Renewal::Expire(ExpiryReason::RenewalOff)
        );
        assert_eq!(
            due.renewal(&january(), true),
            Renewal::NotDue,
            "paid already"
        );
    }

    #[test]
    fn a_package_renews_at_the_end_of_the_period_paid_for_while_active() {
        let package = bought("2026-01-10T00:00:00Z", "2026-02-01T00:00:00Z", true);
        let now = at("2026-01-20T00:00:00Z");
        assert_eq!(package.renews_at(now), Some(package.active_until));
        assert!(package.renews_after(&january()));
        let off = PackageTerms {
            auto_renew: false,
            ..package
        };
        assert_eq!(off.renews_at(now), None);
        assert!(!off.renews_after(&january()));
        assert!(
            !package.active_at(at("2026-02-01T00:00:00Z")),
            "past the period paid for"
        );
    }

    #[test]
    fn an_invoice_line_is_the_unit_price_times_the_quantity() {
        assert_eq!(amount(990, 3), 2970);
        assert_eq!(conversations_of(7), 700);
    }
}
