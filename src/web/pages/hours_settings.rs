//! The business hours, visitor identity and privacy forms on `/settings/account` (owners and
//! admins): time zone, opening intervals per weekday, holidays; the identity secret and whether
//! identify must be signed; whether visitor IP addresses are anonymised.

use super::{error_lines, redirect, render_with_status, settings::account_page};
use crate::{
    domain::{
        business_hours::{BusinessHours, BusinessHoursInput, DAY_KEYS},
        role::Role,
    },
    services::{
        self, Context, ServiceError,
        accounts::{Account, AccountPatch},
    },
    web::{
        auth::{EmptyForm, SecureForm, SignedIn},
        errors::PageError,
    },
};
use actix_web::{HttpRequest, HttpResponse, http::StatusCode, post, web};
use serde::Deserialize;
use std::collections::BTreeMap;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(post_hours)
        .service(post_identity)
        .service(post_identity_secret);
}

/// One weekday's row of the form.
pub struct DayRow {
    pub key: &'static str,
    pub label: &'static str,
    /// `09:00-12:00, 13:00-17:00`.
    pub value: String,
}

/// The business hours form's values, as stored or as last typed.
pub struct HoursForm {
    pub time_zone: String,
    pub days: Vec<DayRow>,
    /// One date per line.
    pub holidays: String,
}

const DAY_LABELS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

impl HoursForm {
    pub fn of(account: &Account) -> Self {
        let input = account
            .business_hours
            .as_ref()
            .map(BusinessHours::to_input)
            .unwrap_or_default();
        let days = DAY_KEYS
            .iter()
            .zip(DAY_LABELS)
            .map(|((key, _), label)| DayRow {
                key,
                label,
                value: input
                    .weekly
                    .get(*key)
                    .map(|intervals| {
                        intervals
                            .iter()
                            .map(|(start, end)| format!("{start}-{end}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default(),
            })
            .collect();
        Self {
            time_zone: input.time_zone,
            days,
            holidays: input.holidays.join("\n"),
        }
    }
}

/// `time_zone`, `hours_mon` … `hours_sun`, `holidays`.
#[derive(Deserialize)]
struct HoursBody {
    time_zone: String,
    holidays: String,
    #[serde(flatten)]
    days: BTreeMap<String, String>,
}

/// "09:00-12:00, 13:00-17:00" as intervals; a piece without a dash is passed on whole, so
/// the domain reports it as malformed with its index.
fn intervals(raw: &str) -> Vec<(String, String)> {
    raw.split([',', ';'])
        .map(str::trim)
        .filter(|piece| !piece.is_empty())
        .map(|piece| match piece.split_once('-') {
            Some((start, end)) => (start.trim().to_owned(), end.trim().to_owned()),
            None => (piece.to_owned(), String::new()),
        })
        .collect()
}

#[post("/settings/account/hours")]
async fn post_hours(
    req: HttpRequest,
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    SecureForm(form): SecureForm<HoursBody>,
) -> Result<HttpResponse, PageError> {
    let actor = &signed_in.actor;
    actor.require(Role::Admin)?;
    let days: Vec<DayRow> = DAY_KEYS
        .iter()
        .zip(DAY_LABELS)
        .map(|((key, _), label)| DayRow {
            key,
            label,
            value: form
                .days
                .get(&format!("hours_{key}"))
                .cloned()
                .unwrap_or_default(),
        })
        .collect();
    let input = BusinessHoursInput {
        time_zone: form.time_zone.trim().to_owned(),
        weekly: days
            .iter()
            .map(|day| (day.key.to_owned(), intervals(&day.value)))
            .filter(|(_, intervals)| !intervals.is_empty())
            .collect(),
        holidays: form
            .holidays
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let cleared = input.time_zone.is_empty() && input.weekly.is_empty();
    let parsed = if cleared {
        Ok(None)
    } else {
        BusinessHours::parse("business_hours", &input).map(Some)
    };
    let result = match parsed {
        Ok(hours) => {
            let patch = AccountPatch {
                business_hours: Some(hours),
                ..AccountPatch::default()
            };
            services::accounts::update_account(&ctx, actor, patch)
                .await
                .map(|_| ())
        }
        Err(problems) => Err(ServiceError::Invalid(problems)),
    };
    match result {
        Ok(()) => Ok(redirect("/settings/account?saved=1#hours")),
        Err(error) => {
            let errors = error_lines(&error).ok_or(error)?;
            let mut page = account_page(&req, &ctx, &signed_in, None, None, errors, false).await?;
            page.hours = HoursForm {
                time_zone: form.time_zone,
                days,
                holidays: form.holidays,
            };
            render_with_status(&page, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

#[derive(Deserialize)]
struct IdentityBody {
    /// Checkboxes: present when ticked.
    require_verified_identity: Option<String>,
    anonymize_ips: Option<String>,
}

#[post("/settings/account/identity")]
async fn post_identity(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    SecureForm(form): SecureForm<IdentityBody>,
) -> Result<HttpResponse, PageError> {
    let patch = AccountPatch {
        require_verified_identity: Some(form.require_verified_identity.is_some()),
        anonymize_ips: Some(form.anonymize_ips.is_some()),
        ..AccountPatch::default()
    };
    services::accounts::update_account(&ctx, &signed_in.actor, patch).await?;
    Ok(redirect("/settings/account?saved=1#identity"))
}

#[post("/settings/account/identity-secret")]
async fn post_identity_secret(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    SecureForm(_): SecureForm<EmptyForm>,
) -> Result<HttpResponse, PageError> {
    services::accounts::regenerate_identity_secret(&ctx, &signed_in.actor).await?;
    Ok(redirect("/settings/account?saved=1#identity"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_field_is_split_into_intervals_and_a_bad_piece_is_kept_for_the_error() {
        assert_eq!(
            intervals(" 09:00-12:00, 13:00 - 17:00 ,"),
            [
                ("09:00".to_owned(), "12:00".to_owned()),
                ("13:00".to_owned(), "17:00".to_owned())
            ]
        );
        assert_eq!(intervals("9to5"), [("9to5".to_owned(), String::new())]);
    }
}
