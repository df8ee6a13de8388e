//! Files in the REST API: an agent uploads a file into a conversation, to send it with a message.

use crate::{
    domain::ids::ConversationId,
    services::{Context, attachments::Uploader},
    web::{auth::ApiActor, errors::ApiError},
};
use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, post, web};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(upload_attachment);
}

/// Uploads a file (multipart, the part named `file`) into the conversation; `201 {id, name,
/// type, size, url}`. Send it with `POST /conversations/{id}/messages {"attachments": [id]}`.
/// `413` over the account's `max_file_bytes`, `415` for a type not in its `allowed_types`
/// (worked out from the content).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/attachments", tag = "conversations",
    params(("id" = uuid::Uuid, Path)),
    request_body(content_type = "multipart/form-data", description = "The part `file`: the file, with its file name"),
    responses((status = 201, body = crate::services::attachments::AttachmentView),
        (status = 404, body = super::ErrorBody), (status = 413, body = super::ErrorBody),
        (status = 415, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
#[post("/conversations/{id}/attachments")]
async fn upload_attachment(
    req: HttpRequest,
    ctx: web::Data<Context>,
    ApiActor(actor): ApiActor,
    path: web::Path<String>,
    payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    let conversation_id: ConversationId = path.parse().map_err(|_| ApiError::not_found())?;
    let uploader = Uploader::Agent {
        user_id: actor.user_id,
        conversation_id,
    };
    Ok(crate::web::files::store_upload(&req, &ctx, actor.account_id, uploader, payload).await?)
}
