//! Immutable workflow versions: the saved graph and its compiled plan.

use echoflow_domain::TriggerSpec;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "workflow_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub workflow_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i32,
    pub definition: Json,
    pub plan: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The plan a run uses: a version number and its compiled plan.
#[derive(Clone, Debug, PartialEq)]
pub struct CurrentPlan {
    pub version: i32,
    pub plan: Json,
}

impl CurrentPlan {
    /// What starts the workflow, as its plan says (read typed; the plan
    /// stays JSON, as jobs carry it as stored).
    pub fn trigger_spec(&self) -> Option<TriggerSpec> {
        TriggerSpec::of_stored_plan(&self.plan)
    }
}

impl From<Model> for CurrentPlan {
    fn from(m: Model) -> Self {
        Self {
            version: m.version,
            plan: m.plan,
        }
    }
}

/// The compiled plan of `version`, without the saved graph.
pub async fn find_plan<C: ConnectionTrait>(
    db: &C,
    workflow_id: Uuid,
    version: i32,
) -> Result<Option<CurrentPlan>, DbErr> {
    use sea_orm::QuerySelect;
    let plan: Option<Json> = Entity::find_by_id((workflow_id, version))
        .select_only()
        .column(Column::Plan)
        .into_tuple()
        .one(db)
        .await?;
    Ok(plan.map(|plan| CurrentPlan { version, plan }))
}

pub async fn find<C: ConnectionTrait>(
    db: &C,
    workflow_id: Uuid,
    version: i32,
) -> Result<Option<Model>, DbErr> {
    Entity::find_by_id((workflow_id, version)).one(db).await
}
