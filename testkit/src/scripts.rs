//! Random stap scripts for differential tests: whatever runs them two
//! ways (plans and the interpreter; a local session and a cluster) must
//! print the same.

use crate::Rng;

/// One random aggregate script: a probe updating a global (keys, guard,
/// ++ / += / <<< / running maximum or minimum), and an end probe printing it in a
/// random way.
pub fn aggregate(r: &mut Rng) -> String {
    let net = r.chance(30);
    let (point, ret) = if net {
        (
            r.pick(&["netdev.receive", "netdev.transmit", "netdev.*"]),
            false,
        )
    } else {
        let p = r.pick(&[
            "syscall.*",
            "syscall.*.return",
            "syscall.{read,write}",
            "syscall.read.return",
            "syscall.{futex,epoll_wait,poll}.return",
            "kernel.function(\"sys_close\")",
            "kernel.function(\"sys_*o*\")",
            "syscall_any",
        ]);
        (p, p.ends_with(".return"))
    };
    let mut key_pool = vec!["pid()", "tid()", "execname()", "uid()", "cpu()"];
    if !net && point != "syscall_any" {
        key_pool.push("name");
    }
    if net {
        key_pool.push("dev_name");
    }
    // Arguments by their kernel names (the trace's signatures): one place
    // for every row, or a different one per syscall (a C int's low 32
    // bits: openat's $dfd is AT_FDCWD, -100, in half the rows).
    let kernel_args: &[&str] = match point {
        "syscall.*" => &["$fd", "$count", "$flags", "$dfd"],
        "syscall.{read,write}" => &["$fd", "$count"],
        "kernel.function(\"sys_close\")" => &["$fd"],
        // close, connect, ioctl, poll, openat, ...: $fd in three places
        // or none
        "kernel.function(\"sys_*o*\")" => &["$fd"],
        _ => &[],
    };
    key_pool.extend(kernel_args);
    let nkeys = (r.next() % 3) as usize;
    let keys: Vec<&str> = (0..nkeys).map(|_| r.pick(&key_pool)).collect();
    let mut guards = vec![
        "execname() == \"nginx\"",
        "execname() != \"postgres\"",
        "pid() > 1100",
        "pid() % 2 == 0",
        "uid() == 0 && cpu() == 1",
        "!(tid() == pid())",
        "pid() > 1050 || execname() == \"java\"",
    ];
    // (a "%" guard is not a plan: it checks that fallback stays correct)
    let mut values = vec!["pid()", "tid() - pid()", "cpu() * 7 + 1"];
    if net {
        guards.push("length > 500");
        values.push("length");
        values.push("length * 2 - 100");
    }
    values.extend(kernel_args);
    if kernel_args.contains(&"$fd") {
        guards.push("$fd < 10");
    }
    if ret {
        guards.push("retval < 0");
        guards.push("retval > 100");
        values.push("retval");
        values.push("gettimeofday_ns() - @entry(gettimeofday_ns())");
        values.push("gettimeofday_us() - @entry(gettimeofday_us())");
    }
    let guard = if r.chance(50) {
        Some(r.pick(&guards))
    } else {
        None
    };
    let idx = if keys.is_empty() {
        String::new()
    } else {
        format!("[{}]", keys.join(", "))
    };
    let kind = r.next() % 4;
    let value = r.pick(&values);
    let update = match kind {
        0 => format!("a{idx}{}", r.pick(&["++", "--"])),
        1 => format!("a{idx} {} {value}", r.pick(&["+=", "-="])),
        2 => format!("a{idx} <<< {value}"),
        // the running-maximum and (for arrays) running-minimum idioms,
        // in their spellings
        _ => match r.next() % if keys.is_empty() { 3 } else { 6 } {
            0 => format!("if ({value} > a{idx}) a{idx} = {value}"),
            1 => format!("if (a{idx} < {value}) {{ a{idx} = {value} }}"),
            2 => format!("if ({value} >= a{idx}) a{idx} = {value}"),
            3 => format!("if (!({idx} in a) || {value} < a{idx}) a{idx} = {value}"),
            4 => format!("if (!({idx} in a) || a{idx} > {value}) {{ a{idx} = {value} }}"),
            _ => format!("if (!({idx} in a) || {value} <= a{idx}) a{idx} = {value}"),
        },
    };
    // A second count or sum with the same keys and guard: the two share
    // one plan (one scan); b is printed automatically at the end.
    let update = if r.chance(30) {
        let second = match r.next() % 2 {
            0 => format!("b{idx}++"),
            _ => format!("b{idx} += {}", r.pick(&values)),
        };
        format!("{update}; {second}")
    } else {
        update
    };
    let body = match guard {
        Some(g) => format!("if ({g}) {{ {update} }}"),
        None => update,
    };
    let mut s = format!("global a, b\nprobe {point} {{ {body} }}\n");
    // The same global counted up at one point and down at another: one
    // scan, each row applied with its own point's sign.
    if point == "netdev.receive" && kind == 0 && r.chance(50) {
        let other = if body.contains(&format!("a{idx}++")) {
            "--"
        } else {
            "++"
        };
        s.push_str(&format!("probe netdev.transmit {{ a{idx}{other} }}\n"));
    }
    // Timers over plan results: print and reset, print cumulatively, or
    // report once and exit (Listing 4's shape).
    if r.chance(35) {
        let period = r.pick(&["300", "700", "1000"]);
        let report = if kind == 2 {
            if keys.is_empty() {
                "printf(\"t %d\\n\", @count(a))".to_string()
            } else {
                "foreach (k in a- limit 3) printf(\"t %d\\n\", @count(a[k]))".to_string()
            }
        } else if keys.is_empty() {
            "printf(\"t %d\\n\", a)".to_string()
        } else {
            "foreach (k in a- limit 3) printf(\"t %d\\n\", a[k])".to_string()
        };
        let report = if keys.len() > 1 {
            report
                .replace("(k in a-", "([k, k2] in a-")
                .replace("a[k]", "a[k, k2]")
        } else {
            report
        };
        let tail = r.pick(&["delete a", "exit()", ""]);
        s.push_str(&format!(
            "probe timer.ms({period}) {{ {report}; {tail} }}\n"
        ));
    }
    if r.chance(20) {
        return s; // auto-printed at the end
    }
    let vars: Vec<String> = (0..keys.len()).map(|i| format!("k{i}")).collect();
    let bracket = if vars.is_empty() {
        String::new()
    } else {
        format!("[{}]", vars.join(", "))
    };
    let limit = if r.chance(50) {
        format!(" limit {}", 1 + r.next() % 8)
    } else {
        String::new()
    };
    let stat = kind == 2;
    let ex = r.pick(&["@count", "@sum", "@min", "@max", "@avg"]);
    let fmt_keys: String = keys
        .iter()
        .map(|k| {
            if k.contains("execname") || *k == "name" || *k == "dev_name" {
                "%s "
            } else {
                "%d "
            }
        })
        .collect();
    s.push_str("probe end {\n");
    if vars.is_empty() {
        if stat {
            s.push_str("  printf(\"%d %d\\n\", @count(a), @sum(a))\n");
            if r.chance(50) {
                s.push_str("  if (@count(a)) print(@hist_log(a))\n");
            } else {
                s.push_str("  if (@count(a)) print(@hist_linear(a, -200, 4000, 100))\n");
            }
        } else {
            s.push_str("  printf(\"%d\\n\", a)\n");
        }
    } else {
        let sort = if stat {
            r.pick(&["", "-", "+", " @sum-", " @max+", " @avg-"])
                .to_string()
        } else {
            r.pick(&["", "-", "+"]).to_string()
        };
        let keysort = if sort.is_empty() && r.chance(50) {
            "+"
        } else {
            ""
        };
        let first = if keysort.is_empty() {
            vars[0].clone()
        } else {
            format!("{}{keysort}", vars[0])
        };
        let mut kv = vec![first];
        kv.extend(vars[1..].iter().cloned());
        let value = if stat {
            format!("{ex}(a{bracket})")
        } else {
            format!("a{bracket}")
        };
        s.push_str(&format!(
            "  foreach ([{}] in a{sort}{limit}) printf(\"{fmt_keys}%d\\n\", {}, {value})\n",
            kv.join(", "),
            vars.join(", ")
        ));
        if stat && r.chance(30) {
            s.push_str(&format!(
                "  foreach ([{}] in a @count- limit 1) print(@hist_log(a{bracket}))\n",
                vars.join(", ")
            ));
        }
    }
    s.push_str("}\n");
    s
}
