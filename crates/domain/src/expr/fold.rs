//! Refuses constant expressions whose folding would build a large value at compile time.
//!
//! minijinja's code generator folds operators over literals (`'x' * 100000000`,
//! `[0] * 100000000 ~ ''`) while compiling, before any guard can run: a save request could
//! make the process build gigabytes. The sizes of folded values are estimated on the tree
//! here, without folding, and the source is refused before code generation.

use minijinja::machinery::ast::{BinOpKind, CallArg, Expr, Stmt};
use minijinja::value::{Value, ValueKind};

use super::limits::MAX_VALUE_BYTES;

/// What folding an expression would give: its size as text, and whether it is a number
/// (which can multiply another operand).
#[derive(Clone, Copy)]
struct Folded {
    size: usize,
    number: bool,
    /// A string: its size counts its two quotes once, however often it is repeated.
    text: bool,
}

const SCALAR: Folded = Folded {
    size: 24,
    number: true,
    text: false,
};

pub(crate) fn check_stmt(stmt: &Stmt<'_>) -> Result<(), String> {
    match stmt {
        Stmt::Template(t) => check_body(&t.children),
        Stmt::EmitExpr(e) => check_expr(&e.expr),
        Stmt::EmitRaw(_) => Ok(()),
        Stmt::ForLoop(f) => {
            check_expr(&f.target)?;
            check_expr(&f.iter)?;
            if let Some(filter) = &f.filter_expr {
                check_expr(filter)?;
            }
            check_body(&f.body)?;
            check_body(&f.else_body)
        }
        Stmt::IfCond(i) => {
            check_expr(&i.expr)?;
            check_body(&i.true_body)?;
            check_body(&i.false_body)
        }
        Stmt::WithBlock(w) => {
            for (target, expr) in &w.assignments {
                check_expr(target)?;
                check_expr(expr)?;
            }
            check_body(&w.body)
        }
        Stmt::Set(s) => {
            check_expr(&s.target)?;
            check_expr(&s.expr)
        }
        Stmt::SetBlock(s) => {
            check_expr(&s.target)?;
            if let Some(filter) = &s.filter {
                check_expr(filter)?;
            }
            check_body(&s.body)
        }
        Stmt::AutoEscape(a) => {
            check_expr(&a.enabled)?;
            check_body(&a.body)
        }
        Stmt::FilterBlock(f) => {
            check_expr(&f.filter)?;
            check_body(&f.body)
        }
        Stmt::Do(d) => {
            check_expr(&d.call.expr)?;
            check_args(&d.call.args)
        }
    }
}

fn check_body(body: &[Stmt<'_>]) -> Result<(), String> {
    body.iter().try_for_each(check_stmt)
}

pub(crate) fn check_expr(expr: &Expr<'_>) -> Result<(), String> {
    estimate(expr).map(|_| ())
}

fn check_args(args: &[CallArg<'_>]) -> Result<(), String> {
    for arg in args {
        match arg {
            CallArg::Pos(e)
            | CallArg::Kwarg(_, e)
            | CallArg::PosSplat(e)
            | CallArg::KwargSplat(e) => {
                check_expr(e)?;
            }
        }
    }
    Ok(())
}

/// The folded size of `expr` when it is constant, checking every sub-expression.
fn estimate(expr: &Expr<'_>) -> Result<Option<Folded>, String> {
    let folded = match expr {
        Expr::Const(c) => Some(of_value(&c.value)),
        Expr::Var(_) => None,
        Expr::List(l) => {
            let items = l
                .items
                .iter()
                .map(estimate)
                .collect::<Result<Vec<_>, _>>()?;
            items.iter().all(Option::is_some).then(|| Folded {
                size: items.iter().flatten().map(|f| f.size + 1).sum::<usize>() + 2,
                number: false,
                text: false,
            })
        }
        Expr::Map(m) => {
            let mut size = 2;
            let mut constant = true;
            for item in m.keys.iter().chain(&m.values) {
                match estimate(item)? {
                    Some(f) => size += f.size + 1,
                    None => constant = false,
                }
            }
            constant.then_some(Folded {
                size,
                number: false,
                text: false,
            })
        }
        Expr::UnaryOp(u) => estimate(&u.expr)?.map(|_| SCALAR),
        Expr::BinOp(b) => {
            let (left, right) = (estimate(&b.left)?, estimate(&b.right)?);
            match (left, right) {
                (Some(l), Some(r)) => Some(binop(b.op, (&b.left, l), (&b.right, r))),
                _ => None,
            }
        }
        Expr::Compare(c) => {
            let mut constant = estimate(&c.expr)?.is_some();
            for op in &c.ops {
                constant &= estimate(&op.expr)?.is_some();
            }
            constant.then_some(SCALAR)
        }
        Expr::Slice(s) => {
            estimate(&s.expr)?;
            for part in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                estimate(part)?;
            }
            None
        }
        Expr::IfExpr(i) => {
            estimate(&i.test_expr)?;
            estimate(&i.true_expr)?;
            if let Some(e) = &i.false_expr {
                estimate(e)?;
            }
            None
        }
        Expr::Filter(f) => {
            if let Some(e) = &f.expr {
                estimate(e)?;
            }
            check_args(&f.args)?;
            None
        }
        Expr::Test(t) => {
            estimate(&t.expr)?;
            check_args(&t.args)?;
            None
        }
        Expr::GetAttr(g) => {
            estimate(&g.expr)?;
            None
        }
        Expr::GetItem(g) => {
            estimate(&g.expr)?;
            estimate(&g.subscript_expr)?;
            None
        }
        Expr::Call(c) => {
            estimate(&c.expr)?;
            check_args(&c.args)?;
            None
        }
    };
    match folded {
        Some(f) if f.size > MAX_VALUE_BYTES => Err(format!(
            "a constant expression would be larger than {} KiB",
            MAX_VALUE_BYTES / 1024
        )),
        other => Ok(other),
    }
}

fn of_value(value: &Value) -> Folded {
    match value.kind() {
        ValueKind::String => Folded {
            size: value.as_str().map_or(0, str::len) + 2,
            number: false,
            text: true,
        },
        _ => SCALAR,
    }
}

fn binop(op: BinOpKind, left: (&Expr<'_>, Folded), right: (&Expr<'_>, Folded)) -> Folded {
    let ((left_expr, l), (right_expr, r)) = (left, right);
    let sum = Folded {
        size: l.size.saturating_add(r.size),
        number: l.number && r.number,
        text: l.text || r.text,
    };
    match op {
        BinOpKind::Mul => match (l.number, r.number) {
            (true, true) => SCALAR,
            (true, false) => repeated(left_expr, r),
            (false, true) => repeated(right_expr, l),
            (false, false) => sum,
        },
        BinOpKind::Add => sum,
        BinOpKind::Concat => Folded {
            number: false,
            text: true,
            ..sum
        },
        BinOpKind::ScAnd | BinOpKind::ScOr => Folded {
            size: l.size.max(r.size),
            number: l.number && r.number,
            text: false,
        },
        _ => SCALAR,
    }
}

/// `times * operand`: the count is a number-only constant, cheap to fold here.
fn repeated(times: &Expr<'_>, operand: Folded) -> Folded {
    let count = times
        .as_const()
        .and_then(|n| i128::try_from(n).ok())
        .map_or(0, i128::unsigned_abs);
    // a string's quotes are not repeated: `'-' * 400000` is 400 KB, not 1.2 MB
    let (repeated, once) = if operand.text {
        (operand.size.saturating_sub(2), 2)
    } else {
        (operand.size, 0)
    };
    let size = u128::try_from(repeated)
        .unwrap_or(u128::MAX)
        .saturating_mul(count)
        .saturating_add(once);
    Folded {
        size: usize::try_from(size).unwrap_or(usize::MAX),
        number: false,
        text: operand.text,
    }
}
