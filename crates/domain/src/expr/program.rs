//! Compiles templates and expressions for the guarded environment, and runs them metered.
//!
//! minijinja's VM computes `+`, `*`, `~`, `in`, comparisons, slices and list and map
//! literals itself, where no filter sees them: a string doubled a few dozen times takes
//! the process's memory within the fuel limit. So a program is compiled here, not by
//! `Environment::template_from_str`, and each of those instructions is replaced by a call
//! of the guarded operator with the same operands and result (`guarded::op`).

use std::collections::BTreeMap;

use minijinja::machinery::ast::Stmt;
use minijinja::machinery::{
    CodeGenerator, Instruction, Instructions, Vm, WhitespaceConfig, make_string_output, parse,
};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Value;
use minijinja::{AutoEscape, Error, ErrorKind};

use super::guarded::{ENV, op};
use super::limits::MAX_LOOP_TEXT_BYTES;
use super::meter::{self, Metered};
use super::{depth, fold};

const ONE_EXPRESSION: &str =
    "expected one expression: a `}}`, `{{` or `{%` inside it ends it early";

/// Why a source could not be compiled: its syntax, or a limit it exceeds.
pub(crate) enum CompileError {
    Syntax(Error),
    Limit(String),
}

impl From<Error> for CompileError {
    fn from(e: Error) -> Self {
        CompileError::Syntax(e)
    }
}

/// A compiled template (`{% %}` and `{{ }}` blocks in text) or a bare expression.
pub(crate) struct Program<'s> {
    instructions: Instructions<'s>,
    blocks: BTreeMap<&'s str, Instructions<'s>>,
}

impl<'s> Program<'s> {
    pub(crate) fn template(source: &'s str) -> Result<Self, CompileError> {
        let ast = parse_checked(source, "<template>")?;
        fold::check_stmt(&ast).map_err(CompileError::Limit)?;
        let mut generator = CodeGenerator::new("<template>", source);
        generator.compile_stmt(&ast);
        let (instructions, blocks) = generator.finish();
        Self::guarded(instructions, blocks)
    }

    fn guarded(
        mut instructions: Instructions<'s>,
        mut blocks: BTreeMap<&'s str, Instructions<'s>>,
    ) -> Result<Self, CompileError> {
        guard(&mut instructions)?;
        for block in blocks.values_mut() {
            guard(block)?;
        }
        Ok(Program {
            instructions,
            blocks,
        })
    }

    /// Renders the template to text.
    pub(crate) fn render(&self, ctx: &Value) -> Result<String, Error> {
        let _meter = Metered::start();
        let mut text = String::new();
        self.run(ctx, &mut text)?;
        Ok(text)
    }

    /// Evaluates the expression to its value, as JSON, with its size as JSON text.
    pub(crate) fn eval_json(&self, ctx: &Value) -> Result<(serde_json::Value, usize), Error> {
        let _meter = Metered::start();
        let value = self.eval_value(ctx)?;
        meter::to_json(&value)
    }

    /// Evaluates the expression to its truthiness.
    pub(crate) fn eval_bool(&self, ctx: &Value) -> Result<bool, Error> {
        let _meter = Metered::start();
        Ok(self.eval_value(ctx)?.is_true())
    }

    fn eval_value(&self, ctx: &Value) -> Result<Value, Error> {
        self.run(ctx, &mut String::new())?
            .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "expression left no value"))
    }

    /// Runs the program in the guarded environment, writing its output to `text`; the value
    /// it left on the stack, if any.
    fn run(&self, ctx: &Value, text: &mut String) -> Result<Option<Value>, Error> {
        let (value, _state) = Vm::new(&ENV).eval(
            &self.instructions,
            ctx.clone(),
            &self.blocks,
            &mut make_string_output(text),
            AutoEscape::None,
        )?;
        Ok(value)
    }
}

impl Program<'_> {
    /// Compiles a bare expression and hands it to `use_it`. The expression is parsed as the
    /// one block of a template (`{{ source }}`): minijinja's expression parser panics on a
    /// closing `}}` inside it, and this text must outlive the program.
    pub(crate) fn with_expression<T>(
        source: &str,
        use_it: impl FnOnce(&Program<'_>) -> T,
    ) -> Result<T, CompileError> {
        let wrapped = format!("{{{{ {source} }}}}");
        let ast = parse_checked(&wrapped, "<expression>")?;
        let expr = match &ast {
            Stmt::Template(t) => match t.children.as_slice() {
                [Stmt::EmitExpr(emit)] => &emit.expr,
                _ => return Err(CompileError::Limit(ONE_EXPRESSION.into())),
            },
            _ => return Err(CompileError::Limit(ONE_EXPRESSION.into())),
        };
        fold::check_expr(expr).map_err(CompileError::Limit)?;
        let mut generator = CodeGenerator::new("<expression>", &wrapped);
        generator.compile_expr(expr);
        let (instructions, blocks) = generator.finish();
        let program = Program::guarded(instructions, blocks)?;
        Ok(use_it(&program))
    }
}

/// Parses a template once its blocks passed the nesting check (parsing recurses per level).
fn parse_checked<'a>(source: &'a str, name: &'a str) -> Result<Stmt<'a>, CompileError> {
    depth::check(source).map_err(CompileError::Limit)?;
    Ok(parse(
        source,
        name,
        SyntaxConfig,
        WhitespaceConfig::default(),
    )?)
}

/// Replaces every instruction that can grow a value with its guarded operator, and refuses
/// long literal text inside loops.
fn guard(instructions: &mut Instructions<'_>) -> Result<(), CompileError> {
    let mut loops = 0usize;
    for idx in 0..instructions.len() {
        let Some(instruction) = u32::try_from(idx)
            .ok()
            .and_then(|idx| instructions.get_mut(idx))
        else {
            continue;
        };
        let (name, args) = match instruction {
            Instruction::PushLoop(_) => {
                loops += 1;
                continue;
            }
            Instruction::PopLoopFrame => {
                loops = loops.saturating_sub(1);
                continue;
            }
            Instruction::EmitRaw(raw) if loops > 0 && raw.len() > MAX_LOOP_TEXT_BYTES => {
                return Err(CompileError::Limit(format!(
                    "literal text inside a loop is limited to {MAX_LOOP_TEXT_BYTES} bytes \
                     between two tags ({} given): set it in a variable before the loop",
                    raw.len()
                )));
            }
            Instruction::Add => (op::ADD, 2),
            Instruction::Mul => (op::MUL, 2),
            Instruction::StringConcat => (op::CONCAT, 2),
            Instruction::In => (op::IN, 2),
            Instruction::Eq => (op::EQ, 2),
            Instruction::Ne => (op::NE, 2),
            Instruction::Lt => (op::LT, 2),
            Instruction::Lte => (op::LTE, 2),
            Instruction::Gt => (op::GT, 2),
            Instruction::Gte => (op::GTE, 2),
            Instruction::Slice => (op::SLICE, 4),
            Instruction::GetItem => (op::ITEM, 2),
            Instruction::BuildList(Some(n)) => (op::LIST, *n),
            Instruction::BuildMap(pairs) => (op::MAP, pairs.saturating_mul(2)),
            _ => continue,
        };
        let args = u16::try_from(args).map_err(|_| {
            CompileError::Limit(format!(
                "a list or map literal has more than {} items",
                u16::MAX
            ))
        })?;
        // `!0`: no cached filter slot, the name is looked up on each call
        *instruction = Instruction::ApplyFilter(name, Some(args), !0);
    }
    insert_checks(instructions);
    Ok(())
}

/// The checks to run just before `instruction`, for the two instructions that cannot be
/// replaced by a call because they leave or store more than one value:
///
/// - `CompareAndPreserve` (all but the last comparison of a chain, `a == b == c`) compares
///   two values of any size in the VM, uncharged: both operands are charged first, so a
///   loop over a chain of comparisons of large lists is stopped by the work budget.
/// - `SetAttr` (`{% set ns.a = value %}`) stores into a namespace unchecked: a namespace
///   set into itself is a cycle whose printing or serialising recurses without end, and
///   namespaces linked one into another make a chain whose drop overflows the stack. The
///   value stored is checked to be measurable and to hold no namespace.
///
/// Stack effects: `Swap` and a check on the top keep both operands where they were.
fn checks_before(instruction: &Instruction<'_>) -> &'static [Instruction<'static>] {
    // `!0`: no cached filter slot
    static COMPARE: [Instruction<'static>; 4] = [
        Instruction::Swap,
        Instruction::ApplyFilter(op::CHARGE, Some(1), !0),
        Instruction::Swap,
        Instruction::ApplyFilter(op::CHARGE, Some(1), !0),
    ];
    static SET_ATTR: [Instruction<'static>; 3] = [
        Instruction::Swap,
        Instruction::ApplyFilter(op::STORABLE, Some(1), !0),
        Instruction::Swap,
    ];
    match instruction {
        Instruction::CompareAndPreserve(_) => COMPARE.as_slice(),
        Instruction::SetAttr(_) => SET_ATTR.as_slice(),
        _ => &[],
    }
}

/// Rebuilds `instructions` with `checks_before` inserted, moving every jump target to the
/// start of its instruction's checks.
fn insert_checks<'s>(instructions: &mut Instructions<'s>) {
    let len = instructions.len();
    let at = |idx: usize| {
        u32::try_from(idx)
            .ok()
            .and_then(|idx| instructions.get(idx))
    };
    if !(0..len).any(|idx| at(idx).is_some_and(|i| !checks_before(i).is_empty())) {
        return;
    }
    // where each old instruction's checks start in the new program; one more for the end
    let mut starts = Vec::with_capacity(len + 1);
    let mut next = 0u32;
    for idx in 0..len {
        starts.push(next);
        let inserted = at(idx).map_or(0, |i| checks_before(i).len());
        next = next.saturating_add(1 + inserted as u32);
    }
    starts.push(next);
    let moved = |target: &mut u32| {
        if let Some(&start) = usize::try_from(*target).ok().and_then(|t| starts.get(t)) {
            *target = start;
        }
    };
    let mut rebuilt = Instructions::new(instructions.name(), instructions.source());
    for idx in 0..len {
        let Some(old) = at(idx) else { continue };
        let location = u32::try_from(idx).ok().and_then(|idx| {
            instructions
                .get_span(idx)
                .map(Ok)
                .or_else(|| instructions.get_line(idx).map(Err))
        });
        let mut add = |instruction: Instruction<'s>| match location {
            Some(Ok(span)) => rebuilt.add_with_span(instruction, span),
            Some(Err(line)) => {
                rebuilt.add_with_line(instruction, u16::try_from(line).unwrap_or(u16::MAX))
            }
            None => rebuilt.add(instruction),
        };
        for extra in checks_before(old) {
            add(extra.clone());
        }
        let mut instruction = old.clone();
        match &mut instruction {
            Instruction::Jump(target)
            | Instruction::JumpIfFalse(target)
            | Instruction::JumpIfFalseOrPop(target)
            | Instruction::JumpIfTrueOrPop(target)
            | Instruction::Iterate(target) => moved(target),
            _ => {}
        }
        add(instruction);
    }
    *instructions = rebuilt;
}
