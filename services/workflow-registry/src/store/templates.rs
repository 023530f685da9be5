//! The template library as stored (`templates`): seeded from the embedded
//! files at start, read by the template routes.

use chrono::Utc;
use sea_orm::QueryOrder;
use sea_orm::TransactionTrait;
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sha2::{Digest, Sha256};

use crate::templates::{Category, ParamSpec, Template};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "templates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub category: String,
    pub description: String,
    pub params: Json,
    pub flow_definition: Json,
    pub content_hash: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The template this row holds. A row that does not read back is a bug
    /// (rows are only written by `seed` from checked templates).
    pub fn into_template(self) -> Result<Template, DbErr> {
        let broken = |what: &str, e: &dyn std::fmt::Display| {
            DbErr::Custom(format!("template {} has a broken {what}: {e}", self.id))
        };
        let category =
            Category::parse(&self.category).ok_or_else(|| broken("category", &self.category))?;
        let params: Vec<ParamSpec> =
            serde_json::from_value(self.params.clone()).map_err(|e| broken("params", &e))?;
        Ok(Template {
            id: self.id,
            name: self.name,
            category,
            description: self.description,
            params,
            flow_definition: self.flow_definition,
        })
    }
}

/// Makes the table hold exactly `library`: inserts new templates, rewrites
/// changed ones, removes those no longer shipped. One upsert, so two
/// replicas starting together both succeed (rows are written in id order,
/// and a row whose content is unchanged is not written at all).
#[tracing::instrument(skip_all, fields(templates = library.len()))]
pub async fn seed(db: &DatabaseConnection, library: &[Template]) -> Result<(), DbErr> {
    let now = Utc::now();
    let mut sorted: Vec<&Template> = library.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut insert = Query::insert()
        .into_table(Entity)
        .columns([
            Column::Id,
            Column::Name,
            Column::Category,
            Column::Description,
            Column::Params,
            Column::FlowDefinition,
            Column::ContentHash,
            Column::UpdatedAt,
        ])
        .to_owned();
    for template in &sorted {
        let params = serde_json::to_value(&template.params)
            .map_err(|e| DbErr::Custom(format!("template {}: {e}", template.id)))?;
        insert
            .values([
                Expr::val(template.id.as_str()),
                Expr::val(template.name.as_str()),
                Expr::val(template.category.as_str()),
                Expr::val(template.description.as_str()),
                Expr::val(params),
                Expr::val(template.flow_definition.clone()),
                Expr::val(content_hash(template)?),
                Expr::val(now),
            ])
            .map_err(|e| DbErr::Custom(e.to_string()))?;
    }
    insert.on_conflict(
        OnConflict::column(Column::Id)
            .update_columns([
                Column::Name,
                Column::Category,
                Column::Description,
                Column::Params,
                Column::FlowDefinition,
                Column::ContentHash,
                Column::UpdatedAt,
            ])
            .action_and_where(
                Expr::col((Entity, Column::ContentHash)).ne(Expr::cust("excluded.content_hash")),
            )
            .to_owned(),
    );
    let ids: Vec<&str> = sorted.iter().map(|t| t.id.as_str()).collect();
    let txn = db.begin().await?;
    if !sorted.is_empty() {
        txn.execute(&insert).await?;
    }
    Entity::delete_many()
        .filter(Column::Id.is_not_in(ids))
        .exec(&txn)
        .await?;
    txn.commit().await
}

/// A digest of everything stored of a template.
fn content_hash(template: &Template) -> Result<String, DbErr> {
    let bytes = serde_json::to_vec(template).map_err(|e| DbErr::Custom(e.to_string()))?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

/// The templates, optionally of one category, by category then name.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    category: Option<Category>,
) -> Result<Vec<Template>, DbErr> {
    let mut select = Entity::find();
    if let Some(category) = category {
        select = select.filter(Column::Category.eq(category.as_str()));
    }
    let rows = select
        .order_by_asc(Column::Category)
        .order_by_asc(Column::Name)
        .all(db)
        .await?;
    rows.into_iter().map(Model::into_template).collect()
}

pub async fn find<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<Template>, DbErr> {
    Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .map(Model::into_template)
        .transpose()
}
