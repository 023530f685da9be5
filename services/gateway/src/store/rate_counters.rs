//! Fixed-window hit counters shared by every gateway replica through the
//! identity database (login and registration limits).

use sea_orm::Set;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{ExprTrait, OnConflict};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rate_counters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub bucket: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub window_start: i64,
    pub hits: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Counts one hit on `bucket` in the window starting at `window_start`
/// (unix seconds) and returns the window's hits so far, this one included.
/// One atomic upsert: concurrent hits from any replica are all counted.
#[tracing::instrument(skip(db))]
pub async fn hit<C: ConnectionTrait>(
    db: &C,
    bucket: &str,
    window_start: i64,
) -> Result<i32, DbErr> {
    let counted = Entity::insert(ActiveModel {
        bucket: Set(bucket.to_string()),
        window_start: Set(window_start),
        hits: Set(1),
    })
    .on_conflict(
        OnConflict::columns([Column::Bucket, Column::WindowStart])
            .value(Column::Hits, Expr::col((Entity, Column::Hits)).add(1))
            .to_owned(),
    )
    .exec_with_returning(db)
    .await?;
    Ok(counted.hits)
}

/// Forgets the windows that started before `before`.
pub async fn prune<C: ConnectionTrait>(db: &C, before: i64) -> Result<u64, DbErr> {
    Ok(Entity::delete_many()
        .filter(Column::WindowStart.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}
