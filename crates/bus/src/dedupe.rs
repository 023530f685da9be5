//! Consumers deduplicate deliveries by message id: a `processed_messages` row per (consumer, message id).

use sea_orm::sea_query::{
    ColumnDef, Expr, ExprTrait, Index, OnConflict, Query, Table, TableCreateStatement,
};
use sea_orm::{ConnectionTrait, DbErr, DeriveIden};

#[derive(DeriveIden)]
enum ProcessedMessages {
    Table,
    Consumer,
    MessageId,
    ProcessedAt,
}

/// `CREATE TABLE IF NOT EXISTS processed_messages (...)`, for the migrations of every consuming slice.
pub fn create_table_statement() -> TableCreateStatement {
    Table::create()
        .table(ProcessedMessages::Table)
        .if_not_exists()
        .col(
            ColumnDef::new(ProcessedMessages::Consumer)
                .text()
                .not_null(),
        )
        .col(
            ColumnDef::new(ProcessedMessages::MessageId)
                .text()
                .not_null(),
        )
        .col(
            ColumnDef::new(ProcessedMessages::ProcessedAt)
                .timestamp_with_time_zone()
                .not_null(),
        )
        .primary_key(
            Index::create()
                .col(ProcessedMessages::Consumer)
                .col(ProcessedMessages::MessageId),
        )
        .to_owned()
}

/// Inside the consumer's transaction: `Ok(true)` if this (consumer, message id) was not seen before
/// (and is now recorded), `Ok(false)` if it was.
pub async fn first_delivery<C: ConnectionTrait>(
    conn: &C,
    consumer: &str,
    message_id: &str,
) -> Result<bool, DbErr> {
    let insert = Query::insert()
        .into_table(ProcessedMessages::Table)
        .columns([
            ProcessedMessages::Consumer,
            ProcessedMessages::MessageId,
            ProcessedMessages::ProcessedAt,
        ])
        .values([
            Expr::val(consumer),
            Expr::val(message_id),
            Expr::val(chrono::Utc::now()),
        ])
        .map_err(|error| DbErr::Custom(error.to_string()))?
        .on_conflict(
            OnConflict::columns([ProcessedMessages::Consumer, ProcessedMessages::MessageId])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    let result = conn.execute(&insert).await?;
    Ok(result.rows_affected() == 1)
}

/// Whether (consumer, message id) was recorded, without recording it.
pub async fn was_recorded<C: ConnectionTrait>(
    conn: &C,
    consumer: &str,
    message_id: &str,
) -> Result<bool, DbErr> {
    let select = Query::select()
        .expr(Expr::val(1))
        .from(ProcessedMessages::Table)
        .and_where(Expr::col(ProcessedMessages::Consumer).eq(consumer))
        .and_where(Expr::col(ProcessedMessages::MessageId).eq(message_id))
        .limit(1)
        .to_owned();
    Ok(conn.query_one(&select).await?.is_some())
}
