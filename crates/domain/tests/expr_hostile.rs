//! Hostile inputs for the expression sandbox (crates/domain/src/expr), tried as an attacker
//! with a workflow config would: each render runs on a 2 MiB thread (a stack overflow aborts
//! the binary), and prints its time and how far it pushed the process's peak RSS.
//!
//! Run with: cargo test -p echoflow-domain --test expr_hostile -- --nocapture --test-threads 1
//! (one thread, so that each render's peak RSS is its own). Times are printed, never asserted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use echoflow_domain::expr::limits::MAX_ELIF_BRANCHES;
use echoflow_domain::expr::{ExprError, check_templates, eval_condition, render_value};
use serde_json::{Value, json};

/// Peak RSS of this process so far, in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Most a single hostile render may add to the peak RSS.
const MAX_GROWTH_KIB: u64 = 100 * 1024;

/// Runs `f` on a 2 MiB thread (an actix worker's stack), printing time and RSS growth, and
/// fails when it raised the peak RSS by more than `MAX_GROWTH_KIB`.
fn hostile<T: Send + 'static>(label: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let before = peak_rss_kib();
    let started = Instant::now();
    let out = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap_or_else(|_| panic!("{label}: the render panicked"));
    let grown = peak_rss_kib().saturating_sub(before);
    println!(
        "{label}: {:?}, peak RSS +{} MiB",
        started.elapsed(),
        grown / 1024
    );
    assert!(
        grown <= MAX_GROWTH_KIB,
        "{label}: peak RSS grew by {} MiB",
        grown / 1024
    );
    out
}

fn ctx() -> Value {
    json!({"trigger": {"data": {"items": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}}, "steps": {}})
}

/// Renders `source` (a whole config value) on a small stack, checked and rendered as the
/// registry and the executor do.
fn render(label: &str, source: String) -> Result<Value, ExprError> {
    hostile(label, move || {
        let _ = check_templates(&json!(source), "c");
        render_value(&json!(source), &ctx())
    })
}

/// A render that must be refused with an evaluation or syntax error (not crash, not succeed).
fn refused(label: &str, source: String) -> String {
    match render(label, source) {
        Err(ExprError::Eval { message, .. } | ExprError::Syntax { message, .. }) => message,
        Ok(v) => panic!(
            "{label}: rendered {}",
            v.to_string().chars().take(200).collect::<String>()
        ),
    }
}

/// A string of `n` bytes the compiler cannot fold (its length comes from the context).
fn big(n: usize) -> String {
    format!("('ab' * (trigger.data.items|length * {}))", n / 4)
}

fn assert_mentions(message: &str, any_of: &[&str]) {
    assert!(
        any_of.iter().any(|needle| message.contains(needle)),
        "{message}"
    );
}

// Finding 1: `{% set ns.a = value %}` stored anything, unchecked. A namespace set into itself
// overflowed the stack when printed or serialised (the test binary aborted), and namespaces
// linked into a chain overflowed it when dropped.
#[test]
fn a_namespace_cannot_hold_itself_or_a_chain_of_namespaces() {
    for (label, source) in [
        (
            "cycle printed",
            "{% set ns = namespace() %}{% set ns.a = ns %}{{ ns }}",
        ),
        (
            "cycle as json",
            "{% set ns = namespace() %}{% set ns.a = ns %}{{ ns|tojson }}",
        ),
        (
            "cycle compared",
            "{% set ns = namespace() %}{% set ns.a = ns %}{{ ns == ns }}",
        ),
        (
            "cycle through a list",
            "{% set ns = namespace() %}{% set ns.a = [1, {'b': ns}] %}{{ ns }}",
        ),
        (
            "chain dropped",
            "{% set ns = namespace(a=1) %}{% for i in range(6000) %}{% set m = namespace() %}{% set m.a = ns.a %}{% set ns.a = m %}{% endfor %}x",
        ),
        (
            "chain from the tail",
            "{% set root = namespace() %}{% set t = namespace(n=root) %}{% for i in range(6000) %}{% set nxt = namespace() %}{% set t.n.a = nxt %}{% set t.n = nxt %}{% endfor %}x",
        ),
    ] {
        let message = refused(label, source.into());
        assert_mentions(
            &message,
            &["namespace cannot be set", "nests deeper", "larger than"],
        );
    }
    // namespaces as accumulators keep working
    let out = render(
        "namespace accumulator",
        "{% set ns = namespace(total=0, names=[], seen={}) %}{% for x in trigger.data.items %}{% set ns.total = ns.total + x.id %}{% set ns.names = ns.names + [x.name] %}{% set ns.seen = dict(ns.seen, **{x.name: true}) %}{% endfor %}{{ ns.total }} {{ ns.names|join(',') }} {{ ns.seen|dictsort|length }}".into(),
    );
    assert_eq!(out.unwrap(), json!("3 a,b 2"));
}

// Finding 2: a namespace holding the same 500 KB string under 300 names is cheap to build;
// `tojson` wrote it out whole: +862 MiB peak RSS and 16 s. Values too large to measure are
// now refused by every callable that walks whole values, not charged and run.
#[test]
fn a_namespace_of_many_large_values_is_not_written_out() {
    let mut source = format!(
        "{{% set big = {} %}}{{% set ns = namespace() %}}",
        big(500_000)
    );
    for i in 0..300 {
        source.push_str(&format!("{{% set ns.a{i} = big %}}"));
    }
    for tail in [
        "{{ (ns|tojson)|length }}",
        "{{ ns|string|length }}",
        "{{ ns == ns }}",
    ] {
        let message = refused("wide namespace", format!("{source}{tail}"));
        assert_mentions(&message, &["larger than 8 MiB"]);
    }
}

// Finding 3: widths were bounded one by one: 300 of `%900000s` padded 270 MB (+518 MiB RSS).
#[test]
fn format_widths_are_bounded_together() {
    let args = vec!["1"; 300].join(",");
    let message = refused(
        "format widths",
        format!("{{{{ ('%900000s' * 300)|format({args})|length }}}}"),
    );
    assert_mentions(&message, &["format widths"]);
    let message = refused(
        "format precisions",
        "{{ ('%.600000f' * 2)|format(1.5, 2.5)|length }}".into(),
    );
    assert_mentions(&message, &["format widths"]);
    let out = render(
        "format",
        "{{ '%-5s|%05.1f|%3d'|format('ab', 2.25, 7) }}".into(),
    );
    assert_eq!(out.unwrap(), json!("ab   |002.2|  7"));
}

// Finding 4: `indent` writes its width once per line: 1,000 lines by 1,000,000 took 6.5 s
// and +1.9 GiB peak RSS.
#[test]
fn indent_is_bounded_by_width_times_lines() {
    for source in [
        "{{ ('a\n' * 1000)|indent(1000000, true)|length }}",
        "{{ ('a\n' * 1000)|indent(width=1000000, first=true)|length }}",
    ] {
        let message = refused("indent", source.into());
        assert_mentions(&message, &["result of indent"]);
    }
    let out = render("indent", "{{ 'a\nb\n\nc'|indent(2) }}".into());
    assert_eq!(out.unwrap(), json!("a\n  b\n\n  c"));
}

// Finding 5: each `{% elif %}` nests one level deeper in the parser, the compiler and the
// drop, with no guard: 20,000 of them (240 KB) aborted the test binary.
#[test]
fn long_elif_chains_are_refused() {
    let source = format!("{{% if x %}}{}{{% endif %}}", "{% elif x %}".repeat(20_000));
    let message = refused("elif chain", source);
    assert_mentions(&message, &["too many elif"]);
    // the most allowed, inside the most nested blocks the parser allows, still works
    let elifs: String = (0..MAX_ELIF_BRANCHES)
        .map(|i| format!("{{% elif x == {i} %}}{i}"))
        .collect();
    let source = format!(
        "{}{{% set x = 99 %}}{{% if x == -1 %}}{elifs}{{% endif %}}{}",
        "{% if true %}".repeat(140),
        "{% endif %}".repeat(140)
    );
    assert_eq!(render("elif chain ok", source).unwrap(), json!("99"));
}

// Finding 6: in a chain `a == b == c`, every comparison but the last runs in the VM,
// uncharged; when it is false the last never runs. Two lists that differ in their last
// item were compared 6,000 times within the fuel (about 60 s in a debug build).
#[test]
fn every_comparison_of_a_chain_is_charged() {
    for (label, cmp) in [
        ("chained ==", "a == b == 1"),
        ("chained <", "b < a < 1"),
        ("chained in", "1 in a in [b]"),
    ] {
        let source = format!(
            "{{% set a = range(100000)|list %}}{{% set b = range(99999)|list + [-1] %}}{{% for i in range(20000) %}}{{% if {cmp} %}}{{% endif %}}{{% endfor %}}x"
        );
        let message = refused(label, source);
        assert_mentions(&message, &["too much work"]);
    }
    let out = render(
        "chains",
        "{{ 1 < trigger.data.items|length < 3 }} {{ 1 == 1 != 2 }} {{ 'a' in 'abc' in ['abc'] }} {{ 3 > 2 > 5 }}".into(),
    );
    assert_eq!(out.unwrap(), json!("True True True False"));
}

// Finding 7: `s[i]` walks the chars of `s` up to `i` (all of them for a negative `i`),
// uncharged: 5,000 lookups at the end of a 1 MB string took 129 s. 100 now exceed the work
// budget.
#[test]
fn indexing_a_string_is_charged() {
    let source = format!(
        "{{% set s = {} %}}{{% for i in range(100) %}}{{% set x = s[-1] %}}{{% endfor %}}x",
        big(1_000_000)
    );
    let message = refused("string index", source);
    assert_mentions(&message, &["too much work"]);
    let out = render(
        "indexing",
        "{{ 'abc'[-1] }}{{ [1, 2, 3][0] }}{{ {'k': 'v'}['k'] }}{{ trigger.data.items[1].name }}{{ trigger['data']['items'][0]['id'] }}".into(),
    );
    assert_eq!(out.unwrap(), json!("c1vb1"));
}

// Finding 8: filters that walk a string char by char into values (`min`, `max`, `unique`,
// `sort`, `groupby`) were charged one unit per 16 bytes, ten times too little: 5,000 `s|min`
// of a 1 MB string ran 135 s, `s|unique` 228 s. And the work budget (64M units) let loops of
// comparisons of large lists run 7 to 17 s in a debug build; it is now 8M.
#[test]
fn walking_strings_and_comparing_lists_exhaust_the_work_budget_early() {
    for filter in ["min", "max", "unique|first", "sort|first"] {
        let source = format!(
            "{{% set s = {} %}}{{% for i in range(20) %}}{{% set x = s|{filter} %}}{{% endfor %}}x",
            big(1_000_000)
        );
        let message = refused(filter, source);
        assert_mentions(&message, &["too much work", "larger than"]);
    }
    let message = refused(
        "== of large lists",
        "{% set a = range(100000)|list %}{% for i in range(200) %}{% if a == a %}{% endif %}{% endfor %}x".into(),
    );
    assert_mentions(&message, &["too much work"]);
}

// Finding 9: a slice step of -2^63 is negated by minijinja: a panic in a checked build.
#[test]
fn the_most_negative_slice_step_is_an_error() {
    for source in [
        "{{ [1,2,3][::-9223372036854775808] }}",
        "{{ 'abc'[::-9223372036854775808] }}",
        "{{ 'abc'[-9223372036854775808:9223372036854775807:-9223372036854775808] }}",
    ] {
        let message = refused("slice step", source.into());
        assert_mentions(&message, &["slice step"]);
    }
    let out = render("slices", "{{ 'abcdef'[::-2] }}{{ [1,2,3,4][1:3] }}".into());
    assert_eq!(out.unwrap(), json!("fdb[2, 3]"));
}

// Finding 10 (correctness): the constant-folding estimate counted a string's quotes once per
// repeat: `'-' * 400000` (400 KB) was refused as larger than 1 MiB.
#[test]
fn repeated_constant_strings_are_estimated_by_their_length() {
    assert!(check_templates(&json!("{{ '-' * 400000 }}"), "c").is_empty());
    let out = render("repeat", "{{ ('-' * 400000)|length }}".into());
    assert_eq!(out.unwrap(), json!(400_000));
    assert_eq!(check_templates(&json!("{{ '-' * 1100000 }}"), "c").len(), 1);
}

// Numbers at the edges are errors or values, never panics. Finding 11: `3 is divisibleby 0`
// panicked (minijinja's `%` on integers is unchecked).
#[test]
fn numbers_at_the_edges_do_not_panic() {
    for source in [
        "{{ (-170141183460469231731687303715884105727 - 1) // -1 }}",
        "{{ (-170141183460469231731687303715884105727 - 1) % -1 }}",
        "{{ (-170141183460469231731687303715884105727 - 1)|abs }}",
        "{{ -(-170141183460469231731687303715884105727 - 1) }}",
        "{{ 170141183460469231731687303715884105727 * 2 }}",
        "{{ 2 ** 200 }}",
        "{{ 10 ** 100000000 }}",
        "{{ 1 // 0 }}",
        "{{ 1 % 0 }}",
        "{{ 1.0 // 0 }}",
        "{{ (1e308 * 10)|int }}",
        "{{ 1.5|round(2147483647) }}",
        "{{ range(0, 10, 0)|list }}",
        "{{ 'ab'[9223372036854775807] }}",
        "{{ 'x' * -170141183460469231731687303715884105727 }}",
        "{{ [1] * 170141183460469231731687303715884105727 }}",
        "{{ [1]|batch(0) }}",
        "{{ 3 is divisibleby 0 }}",
        "{{ (-170141183460469231731687303715884105727 - 1) is divisibleby -1 }}",
    ] {
        let s = source.to_owned();
        let _ = hostile(source, move || {
            let _ = check_templates(&json!(s), "c");
            render_value(&json!(s), &ctx())
        });
    }
}

// Ordinary templates keep working under every guard.
#[test]
fn ordinary_templates_keep_working() {
    let ctx = json!({
        "trigger": {"data": {
            "users": [
                {"name": "ann", "age": 31, "team": "b", "admin": true},
                {"name": "bob", "age": 25, "team": "a", "admin": false},
                {"name": "cy", "age": 40, "team": "b", "admin": false}
            ],
            "tree": [{"name": "r", "children": [{"name": "c1", "children": []}, {"name": "c2", "children": [{"name": "g", "children": []}]}]}],
            "scores": {"z": 1, "a": 3, "m": 2},
            "text": "Hello World"
        }},
        "steps": {"s": {"output": {"n": 2}}}
    });
    let cases = [
        (
            "{% for u in trigger.data.users %}{{ loop.index }}.{{ u.name }}{% if not loop.last %},{% endif %}{% endfor %}",
            json!("1.ann,2.bob,3.cy"),
        ),
        (
            "{{ trigger.data.users|map(attribute='name')|join('/') }}",
            json!("ann/bob/cy"),
        ),
        (
            "{{ trigger.data.users|selectattr('admin')|map(attribute='name')|list }}",
            json!(["ann"]),
        ),
        (
            "{{ trigger.data.users|rejectattr('age', 'gt', 30)|map(attribute='name')|first }}",
            json!("bob"),
        ),
        (
            "{% for k, v in trigger.data.scores|dictsort %}{{ k }}{{ v }}{% endfor %}",
            json!("a3m2z1"),
        ),
        (
            "{% for g in trigger.data.users|groupby('team') %}{{ g.grouper }}:{{ g.list|length }};{% endfor %}",
            json!("a:1;b:2;"),
        ),
        (
            "{% set ns = namespace(n=0) %}{% for u in trigger.data.users if u.age > 30 %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}",
            json!("2"),
        ),
        (
            "{{ trigger.data.text is string and 3 is odd and trigger.nope is not defined and 4 is divisibleby 2 }}",
            json!(true),
        ),
        ("{{ '%s is %d'|format('x', 5) }}", json!("x is 5")),
        (
            "{{ trigger.data.text[:5] }}{{ trigger.data.text[-5:]|lower }}",
            json!("Helloworld"),
        ),
        (
            "{{ 'World' in trigger.data.text and 'bob' in trigger.data.users|map(attribute='name') }}",
            json!(true),
        ),
        ("{{ 20 < trigger.data.users[0].age <= 31 }}", json!(true)),
        (
            "{% for n in trigger.data.tree recursive %}{{ n.name }}{% if n.children %}({{ loop(n.children) }}){% endif %}{% endfor %}",
            json!("r(c1c2(g))"),
        ),
        (
            "{% set greeting %}hi {{ trigger.data.users[0].name }}{% endset %}{{ greeting|upper }}",
            json!("HI ANN"),
        ),
        ("{% filter upper %}a{{ 'b' }}c{% endfilter %}", json!("ABC")),
        (
            "a  {{- ' b ' -}}  c\n{%- if true %} d{% endif %}",
            json!("a b c d"),
        ),
        (
            "{% for x in [1, 2, 3] %}{{ loop.cycle('o', 'e') }}{% endfor %}",
            json!("oeo"),
        ),
        (
            "{{ dict(a=1, **{'b': 2})|dictsort }}",
            json!([["a", 1], ["b", 2]]),
        ),
        ("{{ range(*[1, 4])|list }}", json!([1, 2, 3])),
        (
            "{{ [3, 1, 2]|sort|reverse|list }} {{ 'x,y'|split(',') }} {{ [1, 1, 2]|unique|list }}",
            json!("[3, 2, 1] [\"x\", \"y\"] [1, 2]"),
        ),
        ("{{ steps.s.output.n * 2.5 }}", json!(5.0)),
        (
            "{{ [1, 2]|tojson }}{{ {'a': [1]}|tojson }}",
            json!("[1,2]{\"a\":[1]}"),
        ),
        (
            "{{ trigger.data.users|map(attribute='age')|sum }}",
            json!(96),
        ),
        (
            "{{ [1,2,3,4,5]|batch(2)|list }}",
            json!([[1, 2], [3, 4], [5]]),
        ),
    ];
    for (source, expected) in cases {
        let ctx = ctx.clone();
        let s = source.to_owned();
        let out = hostile(source, move || render_value(&json!(s), &ctx));
        assert_eq!(out.unwrap(), expected, "{source}");
    }
    assert!(eval_condition("1 < 2 < 3 and 'a' ~ 'b' == 'ab'", &json!({})).unwrap());
}
