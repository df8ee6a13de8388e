//! Files over HTTP: the widget's and the inbox's uploads (multipart), and downloads served so
//! that no file can run script in the product's origin (`nosniff`, a sandbox CSP, and a
//! download unless it is a raster image).

use super::{
    auth::{csrf_header_valid, session_actor},
    errors::ApiError,
    throttle::UploadThrottle,
};
use crate::{
    domain::{
        attachment::shown_inline,
        blocking::address_text,
        ids::{AccountId, AttachmentId, ConversationId},
    },
    services::{
        self, Context, ServiceError,
        attachments::{Download, Downloader, FileLimits, Uploader},
    },
};
use actix_multipart::Multipart;
use actix_session::SessionExt;
use actix_web::{
    HttpRequest, HttpResponse, get,
    http::{
        StatusCode,
        header::{
            self, Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue,
        },
    },
    options, post, web,
};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use serde::Deserialize;

/// What a download may run: nothing. Even a file a browser renders (an SVG, an HTML page
/// opened despite `attachment`) gets a unique origin with no script, no requests.
pub const FILE_CSP: &str = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'";

/// Bytes a multipart body may carry beyond the file itself (boundaries, part headers, name).
const MULTIPART_OVERHEAD: u64 = 16 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(get_file)
        .service(upload_widget_file)
        .service(preflight_widget_file)
        .service(upload_inbox_file);
}

/// Reads the part named `file` of a multipart body, refusing it (413) as soon as it grows
/// past `max_bytes`; answers its file name and bytes.
pub async fn read_file(
    req: &HttpRequest,
    mut payload: Multipart,
    max_bytes: i64,
) -> Result<(String, Bytes), ServiceError> {
    let max = max_bytes.max(0) as u64;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max + MULTIPART_OVERHEAD) {
        return Err(services::attachments::too_large(max_bytes));
    }
    let unreadable = |error: actix_multipart::MultipartError| {
        ServiceError::invalid(crate::domain::FieldError::new(
            "file",
            format!("the multipart body cannot be read: {error}"),
        ))
    };
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(unreadable)?;
        if field.name() != Some("file") {
            // Drain and skip any other part.
            while let Some(chunk) = field.next().await {
                chunk.map_err(unreadable)?;
            }
            continue;
        }
        let name = field
            .content_disposition()
            .and_then(|disposition| disposition.get_filename())
            .unwrap_or("file")
            .to_owned();
        let mut bytes = BytesMut::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(unreadable)?;
            if (bytes.len() + chunk.len()) as u64 > max {
                return Err(services::attachments::too_large(max_bytes));
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok((name, bytes.freeze()));
    }
    Err(ServiceError::invalid(crate::domain::FieldError::new(
        "file",
        "is missing: send the file as the multipart part named \"file\"",
    )))
}

/// Stores the uploaded file of `payload` for `uploader` and answers `201 {id, name, type,
/// size, url}`.
pub async fn store_upload(
    req: &HttpRequest,
    ctx: &Context,
    account_id: AccountId,
    uploader: Uploader,
    payload: Multipart,
) -> Result<HttpResponse, ServiceError> {
    let FileLimits { max_bytes, allowed } = services::attachments::limits(ctx, account_id).await?;
    let (name, bytes) = read_file(req, payload, max_bytes).await?;
    let limits = FileLimits { max_bytes, allowed };
    let view =
        services::attachments::upload(ctx, account_id, uploader, &name, bytes, &limits).await?;
    Ok(HttpResponse::Created().json(view))
}

#[derive(Deserialize)]
struct WidgetUploadQuery {
    key: String,
    visitor_token: String,
}

/// The `Access-Control-Allow-Origin` a widget's request from `origin` gets: that origin when
/// the account allows it (any when it lists none), else none (the browser then hides the
/// answer).
async fn widget_cors(req: &HttpRequest, ctx: &Context, key: &str) -> Option<String> {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())?
        .trim_end_matches('/')
        .to_lowercase();
    let account = services::accounts::find_by_widget_key(ctx, key)
        .await
        .ok()?;
    (account.allowed_domains.is_empty() || account.allowed_domains.contains(&origin))
        .then_some(origin)
}

fn with_cors(mut response: HttpResponse, origin: Option<String>) -> HttpResponse {
    if let Some(origin) = origin
        && let Ok(value) = header::HeaderValue::from_str(&origin)
    {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(header::VARY, header::HeaderValue::from_static("Origin"));
    }
    response
}

/// The browser's preflight of a widget upload (an upload with progress events asks first).
#[options("/widget/attachments")]
async fn preflight_widget_file(
    req: HttpRequest,
    ctx: web::Data<Context>,
    query: web::Query<WidgetUploadQuery>,
) -> HttpResponse {
    let origin = widget_cors(&req, &ctx, &query.key).await;
    let mut response = HttpResponse::NoContent();
    response
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "POST"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "content-type"))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"));
    with_cors(response.finish(), origin)
}

/// A visitor uploads a file for their next message: `?key=<widget key>&visitor_token=<token>`.
#[post("/widget/attachments")]
async fn upload_widget_file(
    req: HttpRequest,
    ctx: web::Data<Context>,
    query: web::Query<WidgetUploadQuery>,
    throttle: web::Data<UploadThrottle>,
    payload: Multipart,
) -> HttpResponse {
    let origin = widget_cors(&req, &ctx, &query.key).await;
    let result = async {
        let account = services::accounts::find_by_widget_key(&ctx, &query.key).await?;
        let visitor = services::visitors::find_by_token(&ctx, account.id, &query.visitor_token)
            .await?
            .ok_or(ServiceError::NotFound)?;
        // A blocked visitor (or address) uploads nothing, as their widget sends nothing.
        let ip = req.peer_addr().map(|addr| address_text(addr.ip()));
        services::blocking::refuse_if_blocked(
            &ctx,
            account.id,
            Some(visitor.as_uuid()),
            ip.as_deref(),
        )
        .await?;
        if !throttle.allow(visitor.as_uuid()) {
            return Err(ServiceError::TooManyAttempts);
        }
        store_upload(&req, &ctx, account.id, Uploader::Visitor(visitor), payload).await
    }
    .await;
    let response = result
        .unwrap_or_else(|error| actix_web::ResponseError::error_response(&ApiError::from(error)));
    with_cors(response, origin)
}

/// An agent uploads a file into a conversation from the inbox (session cookie and the page's
/// CSRF token in `X-CSRF-Token`).
#[post("/inbox/{id}/attachments")]
async fn upload_inbox_file(
    req: HttpRequest,
    ctx: web::Data<Context>,
    path: web::Path<String>,
    payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    let actor = session_actor(&req)
        .await?
        .ok_or(ServiceError::Unauthorized)?;
    if !csrf_header_valid(&req, &req.get_session()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_rejected",
            "Reload the page and try again",
        ));
    }
    let conversation_id: ConversationId = path.parse().map_err(|_| ApiError::not_found())?;
    let uploader = Uploader::Agent {
        user_id: actor.user_id,
        conversation_id,
    };
    Ok(store_upload(&req, &ctx, actor.account_id, uploader, payload).await?)
}

#[derive(Deserialize)]
struct DownloadQuery {
    visitor_token: Option<String>,
    expires: Option<i64>,
    signature: Option<String>,
}

/// A file: for agents of its account (session cookie or `Authorization: Bearer`), for the
/// visitor of its conversation (`?visitor_token=`), or with a signed link (`?expires=&signature=`).
/// Anything else is 404, the same as a file that does not exist.
#[get("/files/{id}")]
async fn get_file(
    req: HttpRequest,
    ctx: web::Data<Context>,
    path: web::Path<String>,
    query: web::Query<DownloadQuery>,
) -> Result<HttpResponse, ApiError> {
    let id: AttachmentId = path.parse().map_err(|_| ApiError::not_found())?;
    let who = if let (Some(expires), Some(signature)) = (query.expires, &query.signature) {
        Downloader::Signed { expires, signature }
    } else if let Some(token) = &query.visitor_token {
        Downloader::Visitor(token)
    } else if let Some(token) = super::auth::bearer_token(&req) {
        let actor = services::tokens::authenticate(&ctx, token).await?;
        Downloader::Agent(actor.account_id)
    } else {
        match session_actor(&req).await? {
            Some(actor) => Downloader::Agent(actor.account_id),
            None => return Err(ApiError::not_found()),
        }
    };
    let download = services::attachments::download(&ctx, id, who).await?;
    Ok(serve(download))
}

/// The file with the headers that keep it from running anything: a raster image inline, any
/// other type as a download; never sniffed; sandboxed if a browser renders it anyway.
pub fn serve(download: Download) -> HttpResponse {
    let inline = shown_inline(&download.content_type);
    let ascii: String = download
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = ContentDisposition {
        disposition: if inline {
            DispositionType::Inline
        } else {
            DispositionType::Attachment
        },
        parameters: vec![
            DispositionParam::Filename(ascii),
            DispositionParam::FilenameExt(ExtendedValue {
                charset: Charset::Ext("UTF-8".to_owned()),
                language_tag: None,
                value: download.name.into_bytes(),
            }),
        ],
    };
    let content_type = if inline {
        download.content_type
    } else {
        // Not a type a browser would render as a page, whatever the file is.
        "application/octet-stream".to_owned()
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header(disposition)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, FILE_CSP))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .insert_header(("Cross-Origin-Resource-Policy", "cross-origin"))
        .body(download.bytes)
}
