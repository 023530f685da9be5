//! A chatbot's intents: a name and example phrases.

use sea_orm::QueryOrder;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "intents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub chatbot_id: Uuid,
    pub name: String,
    /// A JSON array of strings.
    pub examples: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn example_list(&self) -> Vec<String> {
        self.examples
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub async fn of_chatbot<C: ConnectionTrait>(db: &C, chatbot_id: Uuid) -> Result<Vec<Model>, DbErr> {
    Entity::find()
        .filter(Column::ChatbotId.eq(chatbot_id))
        .order_by_asc(Column::Name)
        .all(db)
        .await
}
