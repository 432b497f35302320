//! What the comparison examples share: reading a `user<TAB>item<TAB>value` file of
//! dense indices, parsing arguments, the peak RSS, and failing with one line.

use alsflow_core::table::Interactions;

pub fn read_tsv(path: &str) -> Interactions {
    let bytes = std::fs::read(path).unwrap_or_else(|e| fail(&format!("cannot read {path}: {e}")));
    let mut t = Interactions::default();
    // Reserve exactly (one row per line) rather than letting the columns double.
    let rows = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    t.user.reserve_exact(rows);
    t.item.reserve_exact(rows);
    t.value.reserve_exact(rows);
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let mut cols = line.split(|&b| b == b'\t');
        let mut field = |what: &str| -> &[u8] {
            cols.next()
                .unwrap_or_else(|| fail(&format!("{path}:{}: missing {what}", n + 1)))
        };
        let (u, i, v) = (field("user"), field("item"), field("value"));
        let num = |s: &[u8]| {
            std::str::from_utf8(s)
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
        };
        let (Some(u), Some(i), Some(v)) = (num(u), num(i), num(v)) else {
            fail(&format!(
                "{path}:{}: expected user<TAB>item<TAB>value numbers",
                n + 1
            ));
        };
        t.user.push(u as u32);
        t.item.push(i as u32);
        t.value.push(v as f32);
    }
    t.n_users = t.user.iter().max().map_or(0, |m| m + 1);
    t.n_items = t.item.iter().max().map_or(0, |m| m + 1);
    t
}

pub fn parse<T: std::str::FromStr>(s: &str) -> T {
    s.parse()
        .unwrap_or_else(|_| fail(&format!("'{s}' is not a valid number")))
}

pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

pub fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}
