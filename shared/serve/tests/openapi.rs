//! The route documentation stays in step with the router: every route the server
//! has (`Route::ALL`, from which `api::router` is built) is in `openapi.yaml` with its
//! method, the file documents no route the server lacks, and the README's serving
//! section names every route.

use alsflow_serve::metrics::Route;
use std::collections::BTreeSet;

/// (METHOD, path) pairs under `paths:` of an OpenAPI file: paths at two spaces of
/// indentation, methods at four.
fn documented(yaml: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let (mut in_paths, mut path) = (false, None::<String>);
    for line in yaml.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_paths = line.trim_end() == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let key = line.trim().trim_end_matches(':');
        if indent == 2 && line.trim_end().ends_with(':') {
            path = Some(key.to_string());
        } else if indent == 4 && ["get", "post", "put", "delete", "patch"].contains(&key) {
            out.insert((
                key.to_uppercase(),
                path.clone().expect("a method under a path"),
            ));
        }
    }
    out
}

fn served() -> BTreeSet<(String, String)> {
    Route::ALL
        .iter()
        .filter_map(|r| r.method_and_path())
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
}

#[test]
fn openapi_documents_exactly_the_routes_the_router_has() {
    let yaml =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    let (doc, have) = (documented(&yaml), served());
    assert_eq!(doc, have, "openapi.yaml and the router disagree");
    assert_eq!(have.len(), 8);
}

#[test]
fn the_readme_shows_every_route() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    for (method, path) in served() {
        assert!(
            readme.contains(&format!("{method} {path}")),
            "README.md lacks `{method} {path}`"
        );
    }
}

#[test]
fn the_checker_sees_a_missing_route() {
    let yaml = "paths:\n  /healthz:\n    get:\n      summary: x\ncomponents:\n  /x:\n    get:\n";
    let doc = documented(yaml);
    assert_eq!(doc.len(), 1);
    assert_ne!(doc, served());
}
