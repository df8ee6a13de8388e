//! Values shared by every node of one installation, created once.

use super::entities::instance_setting;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait};

/// Returns the stored value of `key`, storing `candidate` first when there is none.
/// Safe when several nodes start at once: the first insert wins, everyone reads it.
pub async fn get_or_insert(
    conn: &impl ConnectionTrait,
    key: &str,
    candidate: String,
) -> Result<String, DbErr> {
    instance_setting::Entity::insert(instance_setting::ActiveModel {
        key: sea_orm::ActiveValue::Set(key.to_owned()),
        value: sea_orm::ActiveValue::Set(candidate),
    })
    .on_conflict_do_nothing()
    .exec(conn)
    .await?;
    instance_setting::Entity::find_by_id(key.to_owned())
        .one(conn)
        .await?
        .map(|row| row.value)
        .ok_or_else(|| DbErr::RecordNotFound(format!("instance setting {key}")))
}
