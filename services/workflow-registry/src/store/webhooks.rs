//! Webhook tokens: the unguessable secret in `/hooks/{token}`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub token: String,
    #[sea_orm(unique)]
    pub workflow_id: Uuid,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A new token: two v4 UUIDs, 244 random bits.
pub fn new_token() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// The active workflow behind a webhook token and its current plan, in one
/// round trip (this is the hot path of every webhook call).
pub async fn resolve<C: ConnectionTrait>(
    db: &C,
    token: &str,
) -> Result<Option<(super::workflows::Model, super::versions::CurrentPlan)>, DbErr> {
    use super::{versions, workflows};
    use sea_orm::{JoinType, QuerySelect, RelationDef};
    let hook_to_workflow: RelationDef = Entity::belongs_to(workflows::Entity)
        .from(Column::WorkflowId)
        .to(workflows::Column::Id)
        .into();
    let version_to_workflow: RelationDef = versions::Entity::belongs_to(workflows::Entity)
        .from(versions::Column::WorkflowId)
        .to(workflows::Column::Id)
        .on_condition(|version, workflow| {
            use sea_orm::sea_query::{Expr, ExprTrait, IntoCondition};
            Expr::col((version, versions::Column::Version))
                .equals((workflow, workflows::Column::CurrentVersion))
                .into_condition()
        })
        .into();
    let row: Option<(workflows::Model, Option<versions::Model>)> = workflows::Entity::find()
        .join_rev(JoinType::InnerJoin, hook_to_workflow)
        .filter(Column::Token.eq(token))
        .filter(workflows::Column::IsActive.eq(true))
        .select_also(versions::Entity)
        .join_rev(JoinType::InnerJoin, version_to_workflow)
        .one(db)
        .await?;
    Ok(row.and_then(|(wf, version)| version.map(|v| (wf, v.into()))))
}

/// Gives the workflow a new token; returns it.
pub async fn issue<C: ConnectionTrait>(db: &C, workflow_id: Uuid) -> Result<String, DbErr> {
    use sea_orm::{ActiveModelTrait, Set};
    let token = new_token();
    ActiveModel {
        token: Set(token.clone()),
        workflow_id: Set(workflow_id),
        created_at: Set(chrono::Utc::now()),
    }
    .insert(db)
    .await?;
    Ok(token)
}

pub async fn for_workflow<C: ConnectionTrait>(
    db: &C,
    workflow_id: Uuid,
) -> Result<Option<Model>, DbErr> {
    Entity::find()
        .filter(Column::WorkflowId.eq(workflow_id))
        .one(db)
        .await
}
