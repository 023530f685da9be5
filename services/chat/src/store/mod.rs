//! The chat slice: entities and queries.

pub mod chatbots;
pub mod external_users;
pub mod faqs;
pub mod intents;
pub mod messages;
pub mod sessions;
pub mod tags;

/// True when `err` is a unique-constraint violation (a lost insert race).
pub fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
