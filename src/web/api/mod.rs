//! The REST API under `/api/v1`: Bearer-token auth, JSON errors, and the OpenAPI document
//! generated from these handlers.

mod account;
mod agents;
mod attachments;
mod billing;
mod blocking;
mod bots;
mod chatbot;
mod conversations;
mod emails;
mod flows;
mod privacy;
mod reports;
mod routing;
mod test_clock;
mod webhooks;

use super::errors::ApiError;
use actix_web::{HttpRequest, HttpResponse, error::JsonPayloadError, get, http::StatusCode, web};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
};

/// Largest JSON body accepted; API bodies are small documents.
const JSON_LIMIT_BYTES: usize = 256 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig, test_clock: bool) {
    cfg.service(
        web::scope("/api/v1")
            .app_data(
                web::JsonConfig::default()
                    .limit(JSON_LIMIT_BYTES)
                    .error_handler(json_error),
            )
            .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found().into()))
            .app_data(web::QueryConfig::default().error_handler(|error, _| {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", error.to_string()).into()
            }))
            .service(get_openapi)
            .configure(account::configure)
            .configure(agents::configure)
            .configure(attachments::configure)
            .configure(billing::configure)
            .configure(blocking::configure)
            .configure(bots::configure)
            .configure(chatbot::configure)
            .configure(conversations::configure)
            .configure(emails::configure)
            .configure(flows::configure)
            .configure(privacy::configure)
            .configure(reports::configure)
            .configure(routing::configure)
            .configure(webhooks::configure)
            .configure(|cfg| {
                if test_clock {
                    test_clock::configure(cfg);
                }
            }),
    );
}

/// Malformed JSON is a 400; well-formed JSON of the wrong shape is a 422.
fn json_error(error: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api_error = match &error {
        JsonPayloadError::Deserialize(inner) if inner.is_data() => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            format!("The JSON body does not have the expected shape: {inner}"),
        ),
        JsonPayloadError::Deserialize(inner) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("The body is not valid JSON: {inner}"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send the body as JSON with `Content-Type: application/json`",
        ),
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("The body is larger than {JSON_LIMIT_BYTES} bytes"),
            )
        }
        _ => ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", error.to_string()),
    };
    api_error.into()
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The error body every endpoint answers with on failure.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the shape; ApiError renders it
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `not_found`, `validation_failed`.
    code: String,
    message: String,
    /// For `validation_failed`: `[{field, message}]`, one per problem.
    details: Option<serde_json::Value>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Frontdesk REST API", version = "1", description = "JSON API of Frontdesk. Authenticate with `Authorization: Bearer <token>`; tokens are made in Settings > API tokens or with `frontdesk token create`."),
    paths(
        account::get_account,
        account::patch_account,
        account::regenerate_identity_secret,
        agents::list_agents,
        agents::create_agent,
        agents::patch_agent,
        conversations::list_conversations,
        conversations::get_conversation,
        conversations::list_messages,
        conversations::post_message,
        attachments::upload_attachment,
        conversations::assign_conversation,
        conversations::resolve_conversation,
        conversations::transfer_conversation,
        conversations::reopen_conversation,
        conversations::set_tags,
        emails::list_emails,
        flows::list_flows,
        flows::create_flow,
        flows::get_flow,
        flows::replace_flow,
        flows::delete_flow,
        chatbot::get_insights,
        reports::get_reports,
        billing::get_billing,
        billing::put_plan,
        billing::buy_packages,
        billing::patch_package,
        billing::list_invoices,
        billing::list_ledger,
        blocking::block_visitor,
        blocking::unblock_visitor,
        blocking::list_blocks,
        blocking::delete_block,
        bots::list_bots,
        bots::create_bot,
        bots::get_bot,
        bots::patch_bot,
        bots::delete_bot,
        bots::list_bot_deliveries,
        bots::post_bot_actions,
        privacy::export_visitor,
        privacy::erase_visitor,
        privacy::list_audit_log,
        routing::list_teams,
        routing::create_team,
        routing::update_team,
        routing::delete_team,
        routing::list_rules,
        routing::create_rule,
        routing::update_rule,
        routing::delete_rule,
        webhooks::list_webhooks,
        webhooks::create_webhook,
        webhooks::get_webhook,
        webhooks::delete_webhook,
        webhooks::list_deliveries,
        webhooks::send_test_event,
        test_clock::set_test_clock,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

#[get("/openapi.json")]
async fn get_openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
