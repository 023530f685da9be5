//! Refuses expressions that would nest deeper than the parser and compiler can recurse.
//!
//! minijinja guards bracket nesting, but a flat chain (`- - - 1`, `a|upper|upper`, `a.b.c`,
//! `1 + 1 + 1`) becomes a tree as deep as the chain is long, and parsing, compiling and
//! dropping it recurse once per level: 6,000 unary minuses overflow a 2 MiB worker stack.
//! The lexer is iterative, so the source is measured on its tokens before it is parsed.

use minijinja::machinery::{Token, WhitespaceConfig, tokenize};
use minijinja::syntax::SyntaxConfig;

use super::limits::{MAX_ELIF_BRANCHES, MAX_EXPRESSION_DEPTH};

/// One bracket group: operators directly in it, and the deepest group inside it.
#[derive(Default)]
struct Group {
    operators: usize,
    deepest_child: usize,
}

impl Group {
    fn depth(&self) -> usize {
        self.operators + self.deepest_child + 1
    }
}

/// Checks every `{{ }}` and `{% %}` block of a template (a bare expression is checked as
/// `{{ expr }}`). A source the lexer refuses passes: the parser then reports
/// its syntax error, which is cheap and does not recurse.
pub(crate) fn check(source: &str) -> Result<(), String> {
    // never the lexer's expression mode: it panics on a `}}` in the source
    let tokens = tokenize(source, false, SyntaxConfig, WhitespaceConfig::default());
    let mut groups = vec![Group::default()];
    let mut elifs = Elifs::default();
    let mut block_head = false;
    for token in tokens {
        let Ok((token, _)) = token else {
            return Ok(());
        };
        if std::mem::take(&mut block_head)
            && let Token::Ident(tag) = token
        {
            elifs.tag(tag)?;
        }
        if matches!(token, Token::BlockStart) {
            block_head = true;
        }
        match token {
            Token::VariableStart | Token::BlockStart => groups = vec![Group::default()],
            Token::VariableEnd | Token::BlockEnd => {
                close_block(&mut groups)?;
                groups = vec![Group::default()];
            }
            Token::ParenOpen | Token::BracketOpen | Token::BraceOpen => {
                groups.push(Group::default());
            }
            Token::ParenClose | Token::BracketClose | Token::BraceClose => close_group(&mut groups),
            Token::TemplateData(_)
            | Token::Str(_)
            | Token::String(_)
            | Token::Int(_)
            | Token::Int128(_)
            | Token::Float(_)
            | Token::Comma
            | Token::Colon
            | Token::Assign => {}
            Token::Ident(name) if !is_operator_keyword(name) => {}
            _ => {
                if let Some(top) = groups.last_mut() {
                    top.operators += 1;
                }
                check_depth(&groups)?;
            }
        }
    }
    close_block(&mut groups)
}

/// The `{% elif %}` branches of the `{% if %}` blocks open at a point of the template.
///
/// The parser guards nested blocks, but each `elif` is parsed, compiled and dropped as an
/// `if` nested in the one before it, unguarded: 20,000 `{% elif x %}` (240 KB) overflowed
/// a 2 MiB stack. Their count over all open `if` blocks is bounded.
#[derive(Default)]
struct Elifs {
    /// One count per open `if` block, innermost last.
    open: Vec<usize>,
    total: usize,
}

impl Elifs {
    fn tag(&mut self, tag: &str) -> Result<(), String> {
        match tag {
            "if" => self.open.push(0),
            "elif" => {
                if let Some(count) = self.open.last_mut() {
                    *count += 1;
                    self.total += 1;
                }
                if self.total > MAX_ELIF_BRANCHES {
                    return Err(format!(
                        "too many elif branches: more than {MAX_ELIF_BRANCHES} in the open if \
                         blocks"
                    ));
                }
            }
            "endif" => self.total -= self.open.pop().unwrap_or(0),
            _ => {}
        }
        Ok(())
    }
}

/// Keywords that build a node around what precedes or follows them.
fn is_operator_keyword(name: &str) -> bool {
    matches!(
        name,
        "not" | "and" | "or" | "in" | "is" | "if" | "else" | "recursive"
    )
}

fn close_group(groups: &mut Vec<Group>) {
    if groups.len() > 1
        && let Some(closed) = groups.pop()
        && let Some(parent) = groups.last_mut()
    {
        parent.deepest_child = parent.deepest_child.max(closed.depth());
    }
}

fn close_block(groups: &mut Vec<Group>) -> Result<(), String> {
    while groups.len() > 1 {
        close_group(groups);
    }
    check_depth(groups)
}

/// The depth of the open path: each open group's operators so far plus its deepest
/// closed child, the way the parser will nest them.
fn check_depth(groups: &[Group]) -> Result<(), String> {
    let depth: usize = groups.iter().map(Group::depth).sum();
    if depth > MAX_EXPRESSION_DEPTH {
        return Err(format!(
            "expression too deeply nested: more than {MAX_EXPRESSION_DEPTH} chained operators, \
             filters or attribute lookups in one block"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_flat_chains_are_refused() {
        for source in [
            format!("{{{{ {}1 }}}}", "-".repeat(6000)),
            format!("{{{{ a{} }}}}", "|upper".repeat(10_000)),
            format!("{{{{ a{} }}}}", ".a".repeat(10_000)),
            format!("{{{{ 1{} }}}}", " + 1".repeat(10_000)),
            format!("{{{{ {}true }}}}", "not ".repeat(10_000)),
            format!("{{% if {}1 %}}x{{% endif %}}", "-".repeat(6000)),
            format!("{{{{ {}1 }}}}", "(1 + 1) + ".repeat(5000)),
        ] {
            let err = check(&source).unwrap_err();
            assert!(err.contains("too deeply nested"), "{err}");
        }
    }

    #[test]
    fn nesting_inside_brackets_adds_up() {
        let inner = format!("({}1)", "-".repeat(150));
        let source = format!("{{{{ {}{inner} }}}}", "-".repeat(100));
        assert!(check(&source).is_err());
    }

    #[test]
    fn ordinary_and_wide_sources_pass() {
        let list = format!(
            "{{{{ [{}] }}}}",
            (0..10_000)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        check(&list).unwrap();
        let many_blocks = "{{ a.b.c|upper ~ 'x' }}".repeat(5000);
        check(&many_blocks).unwrap();
        check(
            "{% for t in trigger.data.tags if t != 'x' %}{{ loop.index }}: {{ t|upper }}{% endfor %}",
        )
        .unwrap();
        check("{{ steps.a.output.status == 200 and not trigger.data.vip }}").unwrap();
        // the lexer's own errors are left to the parser
        check("{{ 'unterminated }}").unwrap();
    }
}
