//! Passes 1-2 run in place when the caller has `PASS_RED_ZONE` of stack
//! left (see `stap::on_big_stack`). This holds the claim: the deepest
//! scripts the parser accepts (and the first it refuses), of every
//! nesting construct, go through both passes on a thread with exactly
//! that much stack, in place. Too little would abort the test binary.

use retap_analyzer::stap::parser::MAX_NESTING;
use retap_analyzer::stap::{
    self,
    elaborate::{elaborate, ElabOptions},
    PpEnv, PASS_RED_ZONE,
};

const CONSTRUCTS: [(&str, &str); 12] = [
    ("(", ")"),
    ("{", "}"),
    ("- ", ""),
    ("!", ""),
    ("%( $# > 0 %?", "%)"),
    ("a[", "]"),
    ("if (1) ", ""),
    ("~", ""),
    ("x = ", ""),
    ("1 + ", ""),
    ("(1 ? ", " : 2)"),
    ("while (1) ", ""),
];

#[test]
fn deepest_scripts_fit_the_red_zone() {
    // A little over the red zone: what the thread itself uses before the
    // passes start.
    let size = PASS_RED_ZONE + (256 << 10);
    std::thread::Builder::new()
        .stack_size(size)
        .spawn(|| {
            let left = stacker::remaining_stack().expect("stack bounds");
            assert!(
                left >= PASS_RED_ZONE,
                "the passes would not run in place ({left} bytes left)"
            );
            let env = PpEnv {
                macros: Default::default(),
                kernel_release: "6.18.0".into(),
                arch: "x86_64".into(),
                args: vec!["1".into()],
            };
            let opts = ElabOptions::no_trace("x86_64");
            for (open, close) in CONSTRUCTS {
                let forms: [fn(&str, &str, usize) -> String; 2] = [
                    |o, c, d| format!("probe begin {{ x = {}1{} }}", o.repeat(d), c.repeat(d)),
                    |o, c, d| format!("probe begin {{ {}x = 1{} }}", o.repeat(d), c.repeat(d)),
                ];
                let mut deepest = 0;
                for form in forms {
                    let ok = |d: usize| {
                        stap::parse("deep.stp", &form(open, close, d), &env)
                            .1
                            .is_empty()
                    };
                    assert!(!ok(5000), "{open}: 5000 levels accepted");
                    // Not every depth is a script (`--` is a decrement).
                    let Some(d) = (1..=MAX_NESTING + 10).rev().find(|&d| ok(d)) else {
                        continue;
                    };
                    deepest = deepest.max(d);
                    let (p, _) = stap::parse("deep.stp", &form(open, close, d), &env);
                    let _ = elaborate(&p.script, &opts);
                    // And the first refused, as far as pass 1 goes.
                    let _ = stap::parse("deep.stp", &form(open, close, d + 1), &env);
                }
                assert!(deepest >= 30, "{open}: only {deepest} levels are accepted");
            }
        })
        .expect("thread")
        .join()
        .expect("passes 1-2 at the nesting limit");
}
