//! The bounds of one render or evaluation; each refusal names the bound it hit.

/// Instructions one render or evaluation may execute; stops runaway loops.
pub const FUEL: u64 = 50_000;

/// Chained operators, filters and lookups in one block (see `depth`).
pub const MAX_EXPRESSION_DEPTH: usize = 200;

/// `{% elif %}` branches of the `if` blocks open at any point: each nests one level deeper.
pub const MAX_ELIF_BRANCHES: usize = 100;

/// The largest value (string, list or map, measured as its JSON text) an operation may
/// produce, and the largest rendered result.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// The largest rendered node config: all its templated strings together.
pub const MAX_RENDERED_CONFIG_BYTES: usize = 4 * 1024 * 1024;

/// How deeply a produced value may nest: what serde_json reads back.
pub const MAX_VALUE_DEPTH: usize = 128;

/// Bytes all operations of one render may produce together.
pub const RENDER_BYTES_BUDGET: usize = 16 * 1024 * 1024;

/// Units of work (values visited, bytes compared or measured) one render may spend.
/// A unit costs up to about 100 ns in a debug build (10 to 20 in release): 64M units let a
/// loop of comparisons of two large lists run for 7 to 17 s (debug), 8M about 1 to 2 s.
pub const RENDER_WORK_BUDGET: u64 = 8 * 1024 * 1024;

/// The longest literal text inside a loop body: every executed copy costs one unit of fuel,
/// so loops emit at most `FUEL * MAX_LOOP_TEXT_BYTES` bytes of literal text.
pub const MAX_LOOP_TEXT_BYTES: usize = 512;

/// Nested calls of recursive loops.
pub const MAX_RECURSION: usize = 64;
