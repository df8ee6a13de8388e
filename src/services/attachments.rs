//! Files in conversations: storing an upload (size and type checked against the account's
//! limits, the type from the content), claiming uploads for the one message that sends them,
//! deciding who may download a file, and signed, expiring links for webhooks.

use super::{Context, ServiceError};
use crate::{
    domain::{
        FieldError,
        attachment::{AllowedTypes, FileName, detect_type},
        conversation::AuthorKind,
        ids::{AccountId, AttachmentId, ConversationId, UserId, VisitorId},
    },
    storage::{
        self,
        attachments::Sender,
        entities::{attachment, message},
    },
};
use anyhow::Context as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sea_orm::DatabaseTransaction;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The instance setting holding the key of signed download links (shared by every node).
const LINK_KEY_SETTING: &str = "file_link_key";
/// Code of a file larger than the account allows (HTTP 413).
pub const TOO_LARGE: &str = "file_too_large";
/// Code of a file whose type the account does not allow (HTTP 415).
pub const TYPE_REFUSED: &str = "file_type_refused";

/// A file as uploads answer it and messages carry it: `{id, name, type, size, url}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AttachmentView {
    #[schema(value_type = uuid::Uuid)]
    pub id: AttachmentId,
    pub name: String,
    /// The MIME type, worked out from the content.
    #[serde(rename = "type")]
    pub content_type: String,
    pub size: i64,
    /// Where to download it (relative to the server): with the inbox session or an API token,
    /// or with `?visitor_token=` for the visitor of its conversation.
    #[serde(default)]
    pub url: String,
    /// In webhooks only: a signed link that works without credentials until it expires.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub download_url: Option<String>,
}

impl From<&attachment::Model> for AttachmentView {
    fn from(row: &attachment::Model) -> Self {
        let id = AttachmentId::from_uuid(row.id);
        Self {
            id,
            name: row.name.clone(),
            content_type: row.content_type.clone(),
            size: row.size,
            url: download_path(id),
            download_url: None,
        }
    }
}

/// The download path of a file.
pub fn download_path(id: AttachmentId) -> String {
    format!("/files/{id}")
}

/// A message's attachments as stored on its row (JSON), with their download paths.
pub fn of_message(stored: Option<&str>) -> Vec<AttachmentView> {
    let mut views: Vec<AttachmentView> = stored
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default();
    for view in &mut views {
        view.url = download_path(view.id);
    }
    views
}

/// The account's file limits.
pub struct FileLimits {
    pub max_bytes: i64,
    pub allowed: AllowedTypes,
}

pub async fn limits(ctx: &Context, account_id: AccountId) -> Result<FileLimits, ServiceError> {
    let account = storage::accounts::find(&ctx.db, account_id.as_uuid())
        .await?
        .ok_or(ServiceError::NotFound)?;
    Ok(FileLimits {
        max_bytes: account.max_file_bytes,
        allowed: AllowedTypes::from_stored(account.allowed_types.as_deref()),
    })
}

/// The refusal of a file over the account's limit.
pub fn too_large(max_bytes: i64) -> ServiceError {
    ServiceError::Refused {
        code: TOO_LARGE,
        message: format!("Files may be at most {max_bytes} bytes"),
    }
}

/// Who uploads: a visitor (for their next message), or an agent into a conversation.
#[derive(Clone, Copy, Debug)]
pub enum Uploader {
    Visitor(VisitorId),
    Agent {
        user_id: UserId,
        conversation_id: ConversationId,
    },
}

/// Stores an uploaded file: refused when larger than the account allows (413) or of a type it
/// does not allow (415, the type worked out from the bytes). The bytes go to the file store
/// first, then the row: a crash between leaves an unreferenced object, never a row without
/// its file.
#[tracing::instrument(skip_all, fields(%account_id, size = bytes.len()))]
pub async fn upload(
    ctx: &Context,
    account_id: AccountId,
    uploader: Uploader,
    raw_name: &str,
    bytes: Bytes,
    limits: &FileLimits,
) -> Result<AttachmentView, ServiceError> {
    if bytes.len() as u64 > limits.max_bytes.max(0) as u64 {
        return Err(too_large(limits.max_bytes));
    }
    if bytes.is_empty() {
        return Err(ServiceError::invalid(FieldError::new(
            "file",
            "is empty: attach a file with content",
        )));
    }
    let content_type = detect_type(&bytes);
    if !limits.allowed.allows(&content_type) {
        return Err(ServiceError::Refused {
            code: TYPE_REFUSED,
            message: format!("Files of type {content_type} are not accepted here"),
        });
    }
    let (visitor_id, conversation_id, kind, user_id) = match uploader {
        Uploader::Visitor(visitor_id) => (visitor_id.as_uuid(), None, AuthorKind::Visitor, None),
        Uploader::Agent {
            user_id,
            conversation_id,
        } => {
            let conversation = storage::conversations::find_in_account(
                &ctx.db,
                account_id.as_uuid(),
                conversation_id.as_uuid(),
            )
            .await?
            .filter(|row| row.erased_at.is_none())
            .ok_or(ServiceError::NotFound)?;
            (
                conversation.visitor_id,
                Some(conversation.id),
                AuthorKind::Agent,
                Some(user_id.as_uuid()),
            )
        }
    };
    let id = AttachmentId::random();
    let storage_key = format!("{}/{}", account_id, id);
    let size = bytes.len() as i64;
    ctx.files.put(&storage_key, bytes).await?;
    let row = attachment::Model {
        id: id.as_uuid(),
        account_id: account_id.as_uuid(),
        visitor_id,
        conversation_id,
        message_id: None,
        uploader_kind: kind.as_str().to_owned(),
        uploader_user_id: user_id,
        name: FileName::parse(raw_name).as_str().to_owned(),
        content_type,
        size,
        storage_key,
        created_at: ctx.clock.now(),
    };
    storage::attachments::insert(&ctx.db, row.clone()).await?;
    tracing::info!(attachment_id = %id, store = ctx.files.kind(), "file stored");
    Ok(AttachmentView::from(&row))
}

/// Checks the ids a message names: at most `MAX_PER_MESSAGE`, no repeats.
pub fn parse_ids(ids: &[uuid::Uuid]) -> Result<Vec<uuid::Uuid>, ServiceError> {
    let max = crate::domain::attachment::MAX_PER_MESSAGE;
    let mut unique = Vec::with_capacity(ids.len());
    for id in ids {
        if !unique.contains(id) {
            unique.push(*id);
        }
    }
    if unique.len() > max {
        return Err(ServiceError::invalid(FieldError::new(
            "attachments",
            format!("a message carries at most {max} files"),
        )));
    }
    Ok(unique)
}

fn not_claimable() -> ServiceError {
    ServiceError::invalid(FieldError::new(
        "attachments",
        "names a file that is unknown, already sent, or uploaded by someone else: upload it again",
    ))
}

/// Inside a message's transaction: links the files `ids` to the message `message_id` and
/// answers the JSON the message row keeps; any id that cannot be claimed refuses the whole
/// message (the caller's transaction is rolled back).
pub(crate) async fn claim(
    txn: &DatabaseTransaction,
    account_id: AccountId,
    ids: &[uuid::Uuid],
    sender: Sender,
    (conversation_id, message_id): (uuid::Uuid, uuid::Uuid),
) -> Result<Option<Vec<AttachmentView>>, ServiceError> {
    if ids.is_empty() {
        return Ok(None);
    }
    let claimed = storage::attachments::claim(
        txn,
        account_id.as_uuid(),
        ids,
        &sender,
        (conversation_id, message_id),
    )
    .await?;
    if claimed.len() != ids.len() {
        return Err(not_claimable());
    }
    Ok(Some(claimed.iter().map(AttachmentView::from).collect()))
}

/// The JSON a message row keeps of its attachments (no URLs: those are worked out on read).
pub(crate) fn to_stored(views: &[AttachmentView]) -> String {
    let stored: Vec<serde_json::Value> = views
        .iter()
        .map(|view| {
            serde_json::json!({
                "id": view.id, "name": view.name, "type": view.content_type, "size": view.size,
            })
        })
        .collect();
    serde_json::Value::Array(stored).to_string()
}

/// The list preview of a message that is only files: `📎 name`.
pub(crate) fn preview(views: &[AttachmentView]) -> String {
    let names: Vec<&str> = views.iter().map(|view| view.name.as_str()).collect();
    format!("📎 {}", names.join(", "))
}

/// Who asks for a download.
pub enum Downloader<'a> {
    /// An agent (session or API token) of this account.
    Agent(AccountId),
    /// A widget, with its visitor token.
    Visitor(&'a str),
    /// A signed link: its expiry (unix seconds) and signature.
    Signed { expires: i64, signature: &'a str },
}

/// A file to send: its bytes, name and type.
pub struct Download {
    pub name: String,
    pub content_type: String,
    pub bytes: Bytes,
}

/// The file `id` for `who`; `NotFound` for anything they may not see (another account's file,
/// another visitor's, an expired or forged link), so nobody learns that it exists.
#[tracing::instrument(skip_all, fields(%id))]
pub async fn download(
    ctx: &Context,
    id: AttachmentId,
    who: Downloader<'_>,
) -> Result<Download, ServiceError> {
    let row = storage::attachments::find(&ctx.reads, id.as_uuid())
        .await?
        .ok_or(ServiceError::NotFound)?;
    let allowed = match who {
        Downloader::Agent(account_id) => row.account_id == account_id.as_uuid(),
        Downloader::Visitor(token) => {
            let visitor =
                super::visitors::find_by_token(ctx, AccountId::from_uuid(row.account_id), token)
                    .await?;
            // Their own files, sent or not; an agent's only once sent to them.
            visitor.is_some_and(|visitor| {
                visitor.as_uuid() == row.visitor_id
                    && (row.message_id.is_some() || row.uploader_kind == "visitor")
            })
        }
        Downloader::Signed { expires, signature } => {
            row.message_id.is_some()
                && expires > ctx.clock.now().timestamp()
                && ctx.file_links.verify(id, expires, signature)
        }
    };
    if !allowed {
        return Err(ServiceError::NotFound);
    }
    if row.message_id.is_some() {
        // A sent file of an internal note is for agents only.
        if let Downloader::Visitor(_) = who
            && let Some(message_id) = row.message_id
            && storage::messages::find(&ctx.reads, message_id)
                .await?
                .is_some_and(|message: message::Model| message.internal)
        {
            return Err(ServiceError::NotFound);
        }
    }
    let bytes = ctx
        .files
        .get(&row.storage_key)
        .await?
        .ok_or(ServiceError::NotFound)?;
    Ok(Download {
        name: row.name,
        content_type: row.content_type,
        bytes,
    })
}

/// Deletes stored objects after the rows that named them are gone (committed); a failure is
/// logged and leaves an unreferenced object, never a dangling row.
pub async fn delete_objects(ctx: &Context, keys: &[String]) {
    for key in keys {
        if let Err(error) = ctx.files.delete(key).await {
            tracing::warn!(error = format!("{error:#}"), "cannot delete a stored file");
        }
    }
}

/// Signs download links: `/files/{id}?expires=<unix>&signature=<hex hmac>`, with a key every
/// node shares (kept in the database), for webhook receivers that hold no credentials.
#[derive(Clone)]
pub struct FileLinks {
    key: std::sync::Arc<Vec<u8>>,
    base: String,
    minutes: i64,
}

impl std::fmt::Debug for FileLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileLinks")
            .field("base", &self.base)
            .finish()
    }
}

impl FileLinks {
    /// Loads (or creates, on the first start) the installation's link key.
    pub async fn load(
        db: &sea_orm::DatabaseConnection,
        settings: &crate::config::Settings,
    ) -> anyhow::Result<Self> {
        let key = storage::instance::get_or_insert(db, LINK_KEY_SETTING, super::random_text(48))
            .await
            .context("loading the file link key")?;
        let base = match &settings.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", settings.bind),
        };
        Ok(Self {
            key: std::sync::Arc::new(key.into_bytes()),
            base,
            minutes: settings.file_link_minutes,
        })
    }

    fn signature(&self, id: AttachmentId, expires: i64) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(format!("{id}.{expires}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A link to `id` valid until `now` plus the configured minutes.
    pub fn signed_url(&self, id: AttachmentId, now: DateTime<Utc>) -> String {
        let expires = now.timestamp() + self.minutes * 60;
        format!(
            "{}{}?expires={expires}&signature={}",
            self.base,
            download_path(id),
            self.signature(id, expires)
        )
    }

    pub fn verify(&self, id: AttachmentId, expires: i64, signature: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        let expected = self.signature(id, expires);
        !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
    }

    /// The views with their signed links, for a webhook or an email.
    pub fn sign_all(&self, views: &mut [AttachmentView], now: DateTime<Utc>) {
        for view in views {
            view.download_url = Some(self.signed_url(view.id, now));
        }
    }
}
