//! Scripts against a fake agent: loading, calling, limits and their errors.

use std::collections::BTreeMap;

use super::*;

/// An agent as a script sees it, recording what the script asked for.
#[derive(Default)]
struct Fake {
    attrs: BTreeMap<String, Value>,
    sent: Vec<(String, Option<Vec<u8>>, Value)>,
    timers: Vec<(u64, String, bool)>,
}

impl ScriptEnv for Fake {
    fn get_attr(&self, name: &str) -> Option<Value> {
        self.attrs.get(name).cloned()
    }
    fn set_attr(&mut self, name: &str, value: Value) -> Result<(), String> {
        self.attrs.insert(name.into(), value);
        Ok(())
    }
    fn send(&mut self, alias: &str, topic: Option<&[u8]>, value: &Value) -> Result<(), String> {
        match alias {
            "nope" => Err("no socket \"nope\"".into()),
            _ => {
                let topic = topic.map(<[u8]>::to_vec);
                self.sent.push((alias.into(), topic, value.clone()));
                Ok(())
            }
        }
    }
    fn request(&mut self, _: &str, _: &Value, _: &str) -> Result<u64, String> {
        Ok(7)
    }
    fn timer(&mut self, ms: u64, handler: &str, periodic: bool) -> Result<String, String> {
        self.timers.push((ms, handler.into(), periodic));
        Ok(format!("timer-{}", self.timers.len()))
    }
    fn stop_timer(&mut self, _: &str) -> bool {
        true
    }
    fn name(&self) -> &str {
        "fake"
    }
}

fn int(i: i64) -> Value {
    Value::Integer(i.into())
}

fn limited(limits: ScriptLimits) -> Scripts {
    Scripts::new(limits)
}

#[test]
fn loaded_functions_are_called_with_converted_values() {
    let mut s = Scripts::new(ScriptLimits::default());
    let defined = s.load("fn double(x) { x * 2 }\nfn none() { () }").unwrap();
    assert_eq!(
        defined.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["double/1", "none/0"]
    );
    let mut env = Fake::default();
    let r = s
        .runner()
        .call(&mut env, "double", arguments(int(21)))
        .unwrap();
    assert_eq!(r, int(42));
    assert_eq!(
        s.runner()
            .call(&mut env, "none", arguments(Value::Null))
            .unwrap(),
        Value::Null
    );
    // A later load replaces a function with the same name and arity and keeps the others.
    s.load("fn double(x) { x * 3 }").unwrap();
    assert_eq!(
        s.runner()
            .call(&mut env, "double", Args::Many(vec![3_i64.into()]))
            .unwrap(),
        int(9)
    );
    assert_eq!(s.arities("none"), [0]);
}

#[test]
fn a_script_reaches_its_agent_and_sees_its_own_changes() {
    let mut s = Scripts::new(ScriptLimits::default());
    s.load(
        r#"fn on_msg(msg, topic) {
            let n = get_attr("n") ?? 0;
            set_attr("n", n + 1);
            publish("out", topic, #{ got: msg, n: get_attr("n") });
            send("push", blob(2, 0xff));
            each(100, "on_msg") + "|" + after(5, "on_msg")
        }"#,
    )
    .unwrap();
    let mut env = Fake::default();
    let args = message_arguments(Value::Text("hi".into()), Some(b"t"), 2);
    let r = s.runner().call(&mut env, "on_msg", args).unwrap();
    assert_eq!(r, Value::Text("timer-1|timer-2".into()));
    assert_eq!(env.attrs["n"], int(1));
    assert_eq!(env.sent.len(), 2);
    assert_eq!(env.sent[0].1.as_deref(), Some(&b"t"[..]));
    assert_eq!(env.sent[1].2, Value::Bytes(vec![0xff, 0xff]));
    assert_eq!(
        env.timers,
        [(100, "on_msg".into(), true), (5, "on_msg".into(), false)]
    );
}

#[test]
fn errors_name_their_line_and_column() {
    let mut s = Scripts::new(ScriptLimits::default());
    let e = s.load("fn f(x) {\n  x +* 1\n}").unwrap_err();
    assert!(e.parse && e.line == Some(2), "{e}");
    assert!(e.to_string().starts_with("line 2, column"), "{e}");
    s.load("fn g(x) {\n  let y = 1;\n  x.nope()\n}").unwrap();
    let e = s
        .runner()
        .call(&mut Fake::default(), "g", Args::Many(vec![1_i64.into()]))
        .unwrap_err();
    assert!(!e.parse && e.line == Some(3), "{e}");
    assert!(e.message.contains("nope"), "{e}");
    let e = s
        .runner()
        .exec(&mut Fake::default(), "send(\"nope\", 1)")
        .unwrap_err();
    assert!(e.message.contains("no socket"), "{e}");
    assert_eq!((e.line, e.column), (Some(1), Some(1)), "{e}");
}

#[test]
fn limits_stop_runaway_and_greedy_scripts() {
    let mut s = limited(ScriptLimits {
        operations: 10_000,
        ..Default::default()
    });
    let e = s
        .runner()
        .exec(&mut Fake::default(), "let x = 1;\nloop { x += 1; }")
        .unwrap_err();
    assert!(e.message.contains("operation limit of 10000"), "{e}");
    assert_eq!(e.line, Some(2), "{e}");

    let mut s = limited(ScriptLimits {
        operations: u64::MAX,
        wall_time_ms: 50,
        ..Default::default()
    });
    let e = s
        .runner()
        .exec(&mut Fake::default(), "loop {}")
        .unwrap_err();
    assert!(e.message.contains("wall time limit of 50 ms"), "{e}");

    let mut s = limited(ScriptLimits::default());
    let e = s
        .runner()
        .exec(&mut Fake::default(), "let s = \"x\";\nloop { s += s; }")
        .unwrap_err();
    assert!(e.message.contains("over the size limit"), "{e}");
    let e = s
        .runner()
        .exec(&mut Fake::default(), "let a = [];\na.pad(1000000, 0);")
        .unwrap_err();
    assert!(e.message.contains("over the size limit"), "{e}");
    s.load("fn deep(n) { deep(n + 1) }").unwrap();
    let e = s
        .runner()
        .call(&mut Fake::default(), "deep", Args::Many(vec![0_i64.into()]))
        .unwrap_err();
    assert!(e.message.contains("call depth limit"), "{e}");
}

#[test]
fn the_sandbox_has_no_eval_import_or_files() {
    let mut s = Scripts::new(ScriptLimits::default());
    let mut env = Fake::default();
    for code in ["eval(\"1\")", "import \"x\" as y;", "open(\"/etc/passwd\")"] {
        let e = s.runner().exec(&mut env, code).unwrap_err();
        assert!(e.line.is_some(), "{code}: {e}");
    }
    let e = s
        .runner()
        .exec(&mut env, "open(\"/etc/passwd\")")
        .unwrap_err();
    assert!(e.message.contains("Function not found"), "{e}");
}

#[test]
fn a_set_method_source_defines_its_function_only() {
    let mut s = Scripts::new(ScriptLimits::default());
    assert!(s.define("f", "fn f(x) { x }").is_ok());
    assert!(s.define("f", "fn g(x) { x }").is_err());
    assert!(s.define("f", "fn f(x) { x }\nfn h() {}").is_err());
    assert!(s.load("let x = 1;").is_err());
    assert_eq!(s.names().collect::<Vec<_>>(), ["f"]);
}

#[test]
fn a_limit_inside_a_called_function_names_the_function_and_where_it_is_defined() {
    let mut s = limited(ScriptLimits {
        operations: 1000,
        ..Default::default()
    });
    s.load("// spins\nfn other() {}\n  fn spin(a) {\n  while true {}\n}")
        .unwrap();
    let e = s
        .runner()
        .call(&mut Fake::default(), "spin", Args::Many(vec![1_i64.into()]))
        .unwrap_err();
    assert_eq!((e.line, e.column), (Some(3), Some(3)), "{e}");
    assert!(
        e.message
            .contains("operation limit of 1000 exceeded in fn spin"),
        "{e}"
    );
}
