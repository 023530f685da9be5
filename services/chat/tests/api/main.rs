//! Run with: cargo test -p echoflow-chat --test api
#![allow(clippy::unwrap_used)]

mod chat;
mod chatbots;
mod conversations;
mod events;
mod faqs;
mod helpers;
mod intents;
mod internal;
mod lifecycle;
mod origins;
mod provider;
mod session_proof;
mod sessions;
mod stream_end;
mod widget;
