//! The business hours, visitor identity and privacy forms on `/settings/account` (owners and
//! admins): time zone, opening intervals per weekday, holidays; the identity secret and whether
//! identify must be signed; whether visitor IP addresses are anonymised; how long resolved
//! conversations are kept.

use super::{error_lines, redirect, render_with_status, settings::account_page};
use crate::{
    domain::{
        FieldError,
        business_hours::{BusinessHours, BusinessHoursInput, DAY_KEYS},
        privacy::RetentionDays,
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
        .service(post_files)
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

/// The form's words for a field of the API's names: `business_hours.weekly.mon[1]` is
/// "Monday, interval 2", `business_hours.holidays[0]` "holiday 1".
fn form_label(field: &str) -> String {
    let field = field.strip_prefix("business_hours.").unwrap_or(field);
    let (name, index) = match field.split_once('[') {
        Some((name, rest)) => (
            name,
            rest.trim_end_matches(']')
                .parse::<usize>()
                .ok()
                .map(|i| i + 1),
        ),
        None => (field, None),
    };
    let label = match name.strip_prefix("weekly.") {
        Some(key) => DAY_KEYS
            .iter()
            .zip(DAY_LABELS)
            .find(|((day, _), _)| *day == key)
            .map_or_else(|| key.to_owned(), |(_, label)| label.to_owned()),
        None if name == "holidays" && index.is_some() => "holiday".to_owned(),
        None => name.replace('_', " "),
    };
    match (index, name.starts_with("weekly.")) {
        (Some(n), true) => format!("{label}, interval {n}"),
        (Some(n), false) => format!("{label} {n}"),
        (None, _) => label,
    }
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
        Err(problems) => Err(ServiceError::Invalid(
            problems
                .into_iter()
                .map(|problem| FieldError::new(form_label(&problem.field), problem.message))
                .collect(),
        )),
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
    /// Days, or empty for "keep forever"; absent leaves the setting as it is.
    retention_days: Option<String>,
}

#[post("/settings/account/identity")]
async fn post_identity(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    SecureForm(form): SecureForm<IdentityBody>,
) -> Result<HttpResponse, PageError> {
    let retention_days = match form.retention_days.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(raw) => {
            let days = raw.parse::<i64>().map_err(|_| {
                ServiceError::invalid(FieldError::new(
                    "retention_days",
                    "must be a whole number of days",
                ))
            })?;
            Some(Some(
                RetentionDays::parse("retention_days", days).map_err(ServiceError::invalid)?,
            ))
        }
    };
    let patch = AccountPatch {
        require_verified_identity: Some(form.require_verified_identity.is_some()),
        anonymize_ips: Some(form.anonymize_ips.is_some()),
        retention_days,
        ..AccountPatch::default()
    };
    services::accounts::update_account(&ctx, &signed_in.actor, patch).await?;
    Ok(redirect("/settings/account?saved=1#identity"))
}

#[derive(Deserialize)]
struct FilesBody {
    /// Megabytes, e.g. `10` or `0.5`.
    max_file_mb: String,
    /// One MIME type (or `type/*`) per line.
    allowed_types: String,
}

#[post("/settings/account/files")]
async fn post_files(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    SecureForm(form): SecureForm<FilesBody>,
) -> Result<HttpResponse, PageError> {
    let mut problems = Vec::new();
    let max_file_bytes = form
        .max_file_mb
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|mb| mb.is_finite())
        .map(|mb| (mb * 1_048_576.0).round() as i64)
        .ok_or_else(|| FieldError::new("max_file_bytes", "must be a number of megabytes"))
        .and_then(|bytes| crate::domain::attachment::parse_max_file_bytes("max_file_bytes", bytes))
        .map_err(|error| problems.push(error))
        .ok();
    let types: Vec<String> = form
        .allowed_types
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    let allowed_types = crate::domain::attachment::AllowedTypes::parse("allowed_types", &types)
        .map_err(|error| problems.push(error))
        .ok();
    if !problems.is_empty() {
        return Err(ServiceError::Invalid(problems).into());
    }
    let patch = AccountPatch {
        max_file_bytes,
        allowed_types,
        ..AccountPatch::default()
    };
    services::accounts::update_account(&ctx, &signed_in.actor, patch).await?;
    Ok(redirect("/settings/account?saved=1#files"))
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

    #[test]
    fn field_names_read_as_the_form_says_them() {
        assert_eq!(
            form_label("business_hours.weekly.mon[1]"),
            "Monday, interval 2"
        );
        assert_eq!(form_label("business_hours.weekly.sun"), "Sunday");
        assert_eq!(form_label("business_hours.holidays[0]"), "holiday 1");
        assert_eq!(form_label("business_hours.holidays"), "holidays");
        assert_eq!(form_label("business_hours.time_zone"), "time zone");
    }
}
