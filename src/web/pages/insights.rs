//! `/chatbot/insights`: the chatbot's figures for a range of days, with a daily chart drawn
//! as server-rendered SVG (no script).

use super::{Chrome, render};
use crate::{
    domain::role::Role,
    services::{
        Context, ServiceError,
        insights::{self, Day, Insights, Range},
    },
    web::{auth::SignedIn, errors::PageError},
};
use actix_web::{HttpResponse, get, web};
use askama::Template;
use serde::Deserialize;
use std::fmt::Write as _;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_insights);
}

/// The `from`/`to` form of a page of figures for a range of days (insights, reports).
#[derive(Deserialize)]
pub(super) struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
}

impl RangeQuery {
    /// The range to show, or the form's problems to show instead of figures.
    pub(super) fn range(
        &self,
        today: chrono::NaiveDate,
    ) -> Result<Result<Range, Vec<String>>, PageError> {
        match Range::parse(self.from.as_deref(), self.to.as_deref(), today) {
            Ok(range) => Ok(Ok(range)),
            Err(error @ ServiceError::Invalid(_)) => {
                Ok(Err(super::error_lines(&error).unwrap_or_default()))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// The dates to put back in the form: the range shown, else what was typed.
    pub(super) fn form_dates(
        &self,
        shown: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
    ) -> (String, String) {
        match shown {
            Some((from, to)) => (from.to_string(), to.to_string()),
            None => (
                self.from.clone().unwrap_or_default(),
                self.to.clone().unwrap_or_default(),
            ),
        }
    }
}

#[derive(Template)]
#[template(path = "chatbot/insights.html")]
struct InsightsPage {
    chrome: Chrome,
    from: String,
    to: String,
    errors: Vec<String>,
    insights: Option<Insights>,
    chart: String,
}

/// One line of the chart: its label, its CSS class, and its value on a day.
type Series = (&'static str, &'static str, fn(&Day) -> u64);

const SERIES: [Series; 4] = [
    ("Triggered", "s-triggered", |d| d.triggered),
    ("Interacted", "s-interacted", |d| d.interacted),
    ("Resolved by chatbot", "s-resolved", |d| {
        d.resolved_by_chatbot
    }),
    ("Escalated to human", "s-escalated", |d| {
        d.escalated_to_human
    }),
];

/// A line chart of the days, one polyline per series, with a y axis and first, middle and
/// last dates. Only numbers and dates go in, so nothing needs escaping.
pub fn daily_chart(days: &[Day]) -> String {
    const W: f64 = 1000.0;
    const H: f64 = 240.0;
    const LEFT: f64 = 40.0;
    const BOTTOM: f64 = 24.0;
    const TOP: f64 = 10.0;
    let max = days
        .iter()
        .flat_map(|d| SERIES.iter().map(move |(_, _, value)| value(d)))
        .max()
        .unwrap_or(0)
        .max(1);
    // A round top for the axis: 1, 2, 5 × 10^n.
    let mut top = 1u64;
    while top < max {
        top = match top.to_string().chars().next() {
            Some('1') => top * 2,
            Some('2') => top / 2 * 5,
            _ => top * 2,
        };
    }
    let plot_w = W - LEFT - 10.0;
    let plot_h = H - BOTTOM - TOP;
    let x = |i: usize| {
        if days.len() <= 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * i as f64 / (days.len() - 1) as f64
        }
    };
    let y = |v: u64| TOP + plot_h - plot_h * v as f64 / top as f64;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"Chatbot runs per day\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    let mut ticks = vec![0, top / 2, top];
    ticks.dedup();
    for tick in ticks {
        let ty = y(tick);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{ty:.1}\" x2=\"{:.1}\" y2=\"{ty:.1}\"/><text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{tick}</text>",
            W - 10.0,
            LEFT - 6.0,
            ty + 4.0
        );
    }
    let labelled: Vec<usize> = match days.len() {
        0 => Vec::new(),
        1 => vec![0],
        n => vec![0, n / 2, n - 1],
    };
    for i in labelled {
        let anchor = if i == 0 {
            "start"
        } else if i + 1 == days.len() {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            svg,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            x(i),
            H - 6.0,
            days[i].date.format("%b %d")
        );
    }
    for (label, class, value) in SERIES {
        let points: Vec<String> = days
            .iter()
            .enumerate()
            .map(|(i, d)| format!("{:.1},{:.1}", x(i), y(value(d))))
            .collect();
        let _ = write!(
            svg,
            "<polyline class=\"line {class}\" points=\"{}\"><title>{label}</title></polyline>",
            points.join(" ")
        );
    }
    svg.push_str("</svg>");
    svg
}

/// "45 s", "3 min 20 s", "2 h 5 min"; a dash when there is none.
pub fn duration(seconds: &Option<f64>) -> String {
    let Some(seconds) = seconds else {
        return "—".to_owned();
    };
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

pub fn percent(rate: &f64) -> String {
    format!("{:.0} %", rate * 100.0)
}

#[get("/chatbot/insights")]
async fn get_insights(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    query: web::Query<RangeQuery>,
) -> Result<HttpResponse, PageError> {
    signed_in.actor.require(Role::Admin)?;
    let chrome = Chrome::new(&ctx, &signed_in.actor, &signed_in.session, "chatbot").await?;
    let today = ctx.clock.now().date_naive();
    let (errors, insights) = match query.range(today)? {
        Ok(range) => (
            Vec::new(),
            Some(insights::insights(&ctx, &signed_in.actor, range).await?),
        ),
        Err(errors) => (errors, None),
    };
    let (from, to) = query.form_dates(insights.as_ref().map(|found| (found.from, found.to)));
    render(&InsightsPage {
        chrome,
        from,
        to,
        errors,
        chart: insights
            .as_ref()
            .map(|found| daily_chart(&found.days))
            .unwrap_or_default(),
        insights,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn days(values: &[u64]) -> Vec<Day> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Day {
                date: NaiveDate::from_ymd_opt(2026, 11, 1 + i as u32).expect("date"),
                triggered: *v,
                interacted: v / 2,
                resolved_by_chatbot: v / 4,
                escalated_to_human: 0,
            })
            .collect()
    }

    #[test]
    fn the_chart_has_a_line_per_series_a_point_per_day_and_a_round_axis() {
        let svg = daily_chart(&days(&[0, 3, 7, 1]));
        assert_eq!(svg.matches("<polyline").count(), 4);
        let first = svg
            .split("points=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("points");
        assert_eq!(first.split(' ').count(), 4, "one point per day");
        assert!(svg.contains(">10</text>"), "7 rounds up to an axis of 10");
        assert!(svg.contains("Nov 01") && svg.contains("Nov 04"));
        // 7 on an axis of 10: y = 10 + 206 * 0.3.
        assert!(first.contains(",71.8"), "{first}");
    }

    #[test]
    fn an_empty_or_single_day_chart_still_renders() {
        assert!(daily_chart(&[]).ends_with("</svg>"));
        let single = daily_chart(&days(&[0]));
        assert!(single.contains(">1</text>"));
        assert_eq!(single.matches(">0</text>").count(), 1, "no repeated tick");
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(duration(&None), "—");
        assert_eq!(duration(&Some(44.6)), "45 s");
        assert_eq!(duration(&Some(200.0)), "3 min 20 s");
        assert_eq!(duration(&Some(7500.0)), "2 h 5 min");
    }
}
