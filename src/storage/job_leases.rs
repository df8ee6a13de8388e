//! Job leases: one conditional write decides which process runs a job until the lease ends.
//! Portable: a conditional UPDATE, then an INSERT that does nothing on conflict (SQLite and
//! PostgreSQL alike), so two nodes racing for a free lease cannot both win.

use super::entities::job_lease;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    TryInsertResult, sea_query::Expr,
};

/// Takes or extends the lease `name` for `holder` until `until`. Answers whether `holder`
/// holds it now: true when it was free, expired at `now`, or already held by `holder`.
pub async fn acquire(
    conn: &impl ConnectionTrait,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let updated = job_lease::Entity::update_many()
        .col_expr(job_lease::Column::Holder, Expr::value(holder))
        .col_expr(job_lease::Column::ExpiresAt, Expr::value(until))
        .filter(job_lease::Column::Name.eq(name))
        .filter(
            Condition::any()
                .add(job_lease::Column::Holder.eq(holder))
                .add(job_lease::Column::ExpiresAt.lt(now)),
        )
        .exec(conn)
        .await?;
    if updated.rows_affected == 1 {
        return Ok(true);
    }
    let inserted = job_lease::Entity::insert(job_lease::ActiveModel {
        name: Set(name.to_owned()),
        holder: Set(holder.to_owned()),
        expires_at: Set(until),
    })
    .on_conflict_do_nothing()
    .exec_without_returning(conn)
    .await?;
    Ok(matches!(inserted, TryInsertResult::Inserted(1)))
}
