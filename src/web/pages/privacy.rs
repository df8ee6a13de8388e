//! Data protection on pages: the visitor panel's "Export data" download and "Erase visitor"
//! form, and `/settings/audit-log` (owners).

use super::{Chrome, format_time, redirect, render};
use crate::{
    domain::ids::{ConversationId, VisitorId},
    services::{self, Context, ServiceError, privacy::AuditEntryView},
    web::{
        auth::{SecureForm, SignedIn},
        errors::PageError,
    },
};
use actix_web::{HttpResponse, get, http::header, post, web};
use askama::Template;
use serde::Deserialize;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_export)
        .service(post_erase)
        .service(get_audit_log);
}

/// Entries on one page of the audit log.
const PAGE_SIZE: u64 = 50;

fn not_found() -> PageError {
    PageError::Service(ServiceError::NotFound)
}

/// "Export data" in the visitor panel: the export as a JSON file download.
#[get("/visitors/{id}/export")]
async fn get_export(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let visitor_id: VisitorId = path.parse().map_err(|_| not_found())?;
    let export = services::privacy::export_visitor(&ctx, &signed_in.actor, visitor_id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"visitor-{visitor_id}.json\""),
        ))
        .json(export))
}

#[derive(Deserialize)]
struct EraseForm {
    /// The "I understand this cannot be undone" checkbox; absent when unchecked.
    confirm: Option<String>,
}

/// "Erase visitor" in the visitor panel of a conversation: erases that conversation's
/// visitor once the confirmation box is ticked, then shows the conversation again.
#[post("/inbox/{id}/erase-visitor")]
async fn post_erase(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    path: web::Path<String>,
    SecureForm(form): SecureForm<EraseForm>,
) -> Result<HttpResponse, PageError> {
    let id: ConversationId = path.parse().map_err(|_| not_found())?;
    let summary = services::conversations::get(&ctx, &signed_in.actor, id).await?;
    if form.confirm.is_none() {
        return Err(PageError::Service(ServiceError::invalid(
            crate::domain::FieldError::new(
                "confirm",
                "tick the box to confirm that the visitor's data is erased for good",
            ),
        )));
    }
    services::privacy::erase_visitor(&ctx, &signed_in.actor, summary.visitor.id).await?;
    Ok(redirect(&format!("/inbox/{id}")))
}

/// One line of the audit log page.
pub struct AuditRow {
    pub at: String,
    pub action: &'static str,
    pub who: String,
    pub visitor: String,
    pub details: String,
}

impl From<AuditEntryView> for AuditRow {
    fn from(entry: AuditEntryView) -> Self {
        let action = match entry.action.as_str() {
            services::privacy::EXPORTED => "Exported a visitor's data",
            services::privacy::ERASED => "Erased a visitor",
            services::privacy::RETENTION_DELETED => "Retention erased old conversations",
            _ => "Other",
        };
        let details = entry
            .details
            .as_object()
            .map(|counts| {
                counts
                    .iter()
                    .map(|(key, value)| format!("{}: {value}", key.replace('_', " ")))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        Self {
            at: format_time(entry.at),
            action,
            who: entry
                .actor
                .map_or_else(|| "Retention job".to_owned(), |actor| actor.name),
            visitor: entry
                .visitor_id
                .map_or_else(|| "—".to_owned(), |id| id.to_string()),
            details,
        }
    }
}

#[derive(Template)]
#[template(path = "settings/audit_log.html")]
struct AuditLogPage {
    chrome: Chrome,
    tab: &'static str,
    entries: Vec<AuditRow>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct AuditQuery {
    cursor: Option<String>,
}

/// Settings → Audit log (owners only), newest first, 50 entries a page.
#[get("/settings/audit-log")]
async fn get_audit_log(
    ctx: web::Data<Context>,
    signed_in: SignedIn,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, PageError> {
    let actor = &signed_in.actor;
    let page =
        services::privacy::audit_log(&ctx, actor, query.cursor.as_deref(), PAGE_SIZE).await?;
    render(&AuditLogPage {
        chrome: Chrome::new(&ctx, actor, &signed_in.session, "settings").await?,
        tab: "audit",
        entries: page.entries.into_iter().map(AuditRow::from).collect(),
        next_cursor: page.next_cursor,
    })
}
