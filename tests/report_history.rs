//! The report's History section and index page, written by the real binary after
//! three runs of `pipelines/synthetic.toml`, then rendered in headless Chromium by
//! `benches/report_check.sh` (every image loads, the History plot shows, the index
//! links each dataset page). Without `chromium` on PATH the rendering part says SKIP;
//! CI installs it (`.ci/run`).

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

fn chromium_available() -> bool {
    Command::new("chromium")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_history_section_and_index_render_in_headless_chromium() {
    let env = Env::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    env.write_config(&std::fs::read_to_string(root.join("pipelines/synthetic.toml")).unwrap());
    for (alpha, name) in [("20", None), ("40", Some("baseline")), ("80", None)] {
        let set = format!("train.alpha={alpha}");
        let mut args = vec!["--set", set.as_str()];
        if let Some(n) = name {
            args.extend(["--name", n]);
        }
        env.run("s", &args);
    }
    let out = env.dir.path().join("report");
    let o = env.out("s", &["report", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // The page: a History section listing the three runs and referencing its plot.
    let page = std::fs::read_to_string(out.join("synthetic/index.html")).unwrap();
    let history = &page[page
        .find("<section id=\"history\">")
        .expect("History section")..];
    assert!(history.contains("<img src=\"history.svg\""), "{history}");
    assert_eq!(
        history.matches("<tr").count(),
        1 + 3,
        "header and three runs"
    );
    assert!(history.contains("baseline"));
    assert!(history.contains("(this page)"));
    let svg = std::fs::read_to_string(out.join("synthetic/history.svg")).unwrap();
    assert!(svg.contains("roem and precision@10 across runs"), "{svg}");
    assert_eq!(
        svg.matches("<circle").count(),
        2 * 3,
        "two series of three runs"
    );
    // The index: the dataset's summary with metrics, params, time and link.
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    for needle in [
        "<a href=\"synthetic/index.html\">synthetic</a>",
        "<td class=\"t\">popularity</td>",
        "alpha = 80",
        "(from tune.best_params)",
        " UTC (run ",
    ] {
        assert!(index.contains(needle), "{needle} missing from {index}");
    }

    if !chromium_available() {
        println!("SKIP: chromium is not installed; the report was not rendered (apt-get install -y chromium)");
        return;
    }
    let check = Command::new("bash")
        .arg(root.join("benches/report_check.sh"))
        .arg(&out)
        .output()
        .expect("run benches/report_check.sh");
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "report_check.sh failed: {said}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(said.contains("history=ok broken=0"), "{said}");
    assert!(said.contains("sections=1 linked=1"), "{said}");
    assert!(out.join("synthetic/screenshot.png").is_file());
}
