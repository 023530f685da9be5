//! The list routes' query string (`?limit=&offset=` among the route's own filters), which
//! any caller writes: it gives a page within the bounds or a refusal naming the field,
//! never a panic. page.rs is compiled in by path: service-kit (actix, sea-orm) is too heavy
//! to build with sanitizers.
#![no_main]

#[path = "../../crates/service-kit/src/pagination/page.rs"]
mod page;

use libfuzzer_sys::fuzz_target;
use page::{MAX_LIMIT, MAX_OFFSET, limit_and_offset};

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    match limit_and_offset(query) {
        Ok((limit, offset)) => {
            assert!((1..=MAX_LIMIT).contains(&limit), "{query:?} gave limit {limit}");
            assert!(offset <= MAX_OFFSET, "{query:?} gave offset {offset}");
        }
        Err(fault) => assert!(!fault.message.is_empty()),
    }
});
