//! The dependency rule of the shared crate: `domain ← integrations ← app ← functions`, with the store
//! and queue ports in domain terms. Read from the source: every `crate::…` path a module names (in
//! `use` lines and in code) must point at a layer it may depend on, and the app layer names no Lambda
//! or AWS type. `docs/architecture.md` explains the layers.

use std::path::{Path, PathBuf};

use integration_tests::root;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layer {
    /// The canonical model: pure types and rules.
    Domain,
    /// What everything may use: configuration, errors, the clock, metrics.
    Foundation,
    /// One folder per upstream system.
    Integration,
    /// The store and queue ports (with their adapters) and the secrets port.
    Port,
    /// The use cases.
    App,
    /// Generic HTTP and logging helpers for function edges: foundation and domain only.
    Plumbing,
    /// Wiring for functions (SDK clients, the SQS batch driver, the SSE stream) and test support.
    Edge,
}

/// The layer of a module of `shared/src`, by its path there (`app/poll/amazon.rs`) or top-level name.
fn layer(module: &str) -> Option<Layer> {
    let top = module.split('/').next()?.trim_end_matches(".rs");
    Some(match top {
        "domain" => Layer::Domain,
        "config" | "error" | "clock" | "metrics" => Layer::Foundation,
        "integrations" => Layer::Integration,
        // The store's contract suite is test support: it builds test data with `testing`.
        "store" if module.starts_with("store/contract") => Layer::Edge,
        "store" | "queue" | "secrets" => Layer::Port,
        "app" => Layer::App,
        "http" | "telemetry" => Layer::Plumbing,
        "aws" | "sqs_batch" | "sse" | "testing" | "lib" => Layer::Edge,
        _ => return None,
    })
}

fn may_use(from: Layer, to: Layer) -> bool {
    use Layer::*;
    match from {
        Domain => to == Domain,
        Foundation => matches!(to, Foundation | Domain),
        Integration => matches!(to, Integration | Foundation | Domain),
        Port => matches!(to, Port | Foundation | Domain),
        App => matches!(to, App | Port | Integration | Foundation | Domain),
        Plumbing => matches!(to, Plumbing | Foundation | Domain),
        Edge => true,
    }
}

/// External crates a layer must not name: no Lambda or AWS types above the ports.
fn forbidden_crates(from: Layer) -> &'static [&'static str] {
    const RUNTIME: &[&str] = &["lambda_http", "lambda_runtime", "aws_lambda_events", "aws_config", "aws_sdk_"];
    match from {
        Layer::Domain | Layer::Integration | Layer::App | Layer::Foundation => RUNTIME,
        _ => &[],
    }
}

/// The code of a file without comments (doc comments name paths that are not dependencies).
fn code(source: &str) -> String {
    source.lines().map(|line| line.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

/// The top-level modules of the crate that `source` names: `crate::x…` paths, and the first-level
/// items of `use crate::{x, y::{…}}` groups.
fn crate_references(source: &str) -> Vec<String> {
    let code = code(source);
    let mut found = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if depth == 1 && c == ',' {
                    found.push(std::mem::take(&mut item));
                } else if depth == 1 {
                    item.push(c);
                }
            }
            found.push(item);
        } else {
            found.push(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
    }
    found
        .into_iter()
        .map(|item| item.trim().split("::").next().unwrap_or_default().trim().to_owned())
        .filter(|name| !name.is_empty() && name != "self")
        .collect()
}

/// Every wrong-way reference of the module at `module` (its path under `shared/src`) with `source`.
fn violations(module: &str, source: &str) -> Vec<String> {
    let Some(from) = layer(module) else { return vec![format!("{module} is in no layer: add it to the rule")] };
    let mut wrong = Vec::new();
    for name in crate_references(source) {
        match layer(&name) {
            Some(to) if may_use(from, to) => {}
            Some(to) => wrong.push(format!("{module} ({from:?}) uses crate::{name} ({to:?})")),
            None => wrong.push(format!("{module} names crate::{name}, which is in no layer")),
        }
    }
    let code = code(source);
    for krate in forbidden_crates(from) {
        if code.contains(&format!("{krate}::")) || code.contains(&format!("{krate}{{")) {
            wrong.push(format!("{module} ({from:?}) names the runtime crate {krate}"));
        }
    }
    wrong
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_of_the_shared_crate_depends_only_on_the_layers_below_it() {
    let src = root().join("shared/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 40, "the shared crate's sources were found");
    let mut wrong = Vec::new();
    for file in &files {
        let module = file.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        wrong.extend(violations(&module, &std::fs::read_to_string(file).unwrap()));
    }
    assert!(wrong.is_empty(), "wrong-way dependencies:\n{}", wrong.join("\n"));
}

#[test]
fn the_rule_refuses_the_wrong_way_imports_the_code_once_had() {
    // Each of these was in the code before integrations/ and app/ existed.
    let cases = [
        ("domain/message.rs", "use crate::amazon::sync::SyncJob;", "crate::amazon"),
        ("domain/message.rs", "AmazonSync(crate::app::poll::amazon::SyncJob),", "crate::app"),
        (
            "store/amazon.rs",
            "use crate::{\n    integrations::amazon::{ApiVersion, Region},\n    domain::ShopDomain,\n};",
            "crate::integrations",
        ),
        (
            "store/dynamo/amazon.rs",
            "use crate::{domain::ShopDomain, integrations::amazon::model::AmazonOrder};",
            "crate::integrations",
        ),
        ("integrations/amazon/sync.rs", "use crate::{\n    store::{AlertStore, OrderStore},\n};", "crate::store"),
        ("integrations/shopify/admin.rs", "use crate::app::orders;", "crate::app"),
        (
            "http.rs",
            "use crate::{\n    error::ApiError,\n    integrations::shopify::session::{self, Session},\n};",
            "crate::integrations",
        ),
        ("app/shops.rs", "pub fn connect(sdk: &aws_config::SdkConfig) {}", "aws_config"),
        ("queue/message.rs", "use crate::app::poll::amazon::SyncJob;", "crate::app"),
    ];
    for (module, source, culprit) in cases {
        let wrong = violations(module, source);
        assert!(wrong.iter().any(|w| w.contains(culprit)), "{module}: `{source}` was not refused ({wrong:?})");
    }
    // And the right way round passes.
    assert!(
        violations("app/poll/amazon.rs", "use crate::{integrations::amazon::client, store::SyncStore};").is_empty()
    );
    assert!(violations("integrations/shopify/model.rs", "use crate::domain::{Order, ShopDomain};").is_empty());
}
