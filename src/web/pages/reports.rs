//! `/reports`: the team report for a range of days (totals, bot versus human, per agent and
//! per team), read from the reporting events.

use super::insights::RangeQuery;
use super::{Chrome, render};
use crate::{
    domain::role::Role,
    services::{
        Context,
        reports::{self, Report},
    },
    web::{auth::SignedIn, errors::PageError},
};
use actix_web::{HttpResponse, get, web};
use askama::Template;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_reports);
}

#[derive(Template)]
#[template(path = "reports/index.html")]
struct ReportsPage {
    chrome: Chrome,
    from: String,
    to: String,
    errors: Vec<String>,
    report: Option<Report>,
}

/// "4 min 10 s" for a median in seconds; "—" without one.
pub fn seconds(value: &Option<i64>) -> String {
    super::insights::duration(&value.map(|s| s as f64))
}

/// "4.25" for an average rating; "—" without ratings.
pub fn rating(value: &Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.2}"))
}

/// The bot versus human split as one bar of SVG rectangles (the page's CSP forbids inline
/// styles): `(css class, x, width)` in percent of the bar, zero-width parts left out.
pub fn split_bar(figures: &reports::Figures) -> Vec<(&'static str, f64, f64)> {
    let whole = figures.resolved as f64;
    if whole == 0.0 {
        return Vec::new();
    }
    let mut x = 0.0;
    let mut parts = Vec::new();
    for (class, count) in [
        ("s-resolved", figures.resolved_by_chatbot),
        ("s-escalated", figures.resolved_by_humans),
        ("s-none", figures.resolved_without_reply),
    ] {
        let width = count as f64 * 100.0 / whole;
        if width > 0.0 {
            parts.push((class, x, width));
        }
        x += width;
    }
    parts
}

/// `part` as a whole percentage of `whole` ("—" when `whole` is 0).
pub fn share(part: &u64, whole: &u64) -> String {
    if *whole == 0 {
        return "—".to_owned();
    }
    format!("{:.0} %", *part as f64 * 100.0 / *whole as f64)
}

#[get("/reports")]
async fn get_reports(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    query: web::Query<RangeQuery>,
) -> Result<HttpResponse, PageError> {
    signed_in.actor.require(Role::Admin)?;
    let chrome = Chrome::new(&ctx, &signed_in.actor, &signed_in.session, "reports").await?;
    let today = ctx.clock.now().date_naive();
    let (errors, report) = match query.range(today)? {
        Ok(range) => (
            Vec::new(),
            Some(reports::report(&ctx, &signed_in.actor, range).await?),
        ),
        Err(errors) => (errors, None),
    };
    let (from, to) = query.form_dates(report.as_ref().map(|found| (found.from, found.to)));
    render(&ReportsPage {
        chrome,
        from,
        to,
        errors,
        report,
    })
}
