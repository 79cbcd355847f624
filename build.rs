//! Builds the web UI into `web/dist` so `cargo run` serves a working board on a fresh clone.
//!
//! - `KLAXON_SKIP_WEB=1`: skip npm entirely (backend-only work); a placeholder page is
//!   served if nothing was built before.
//! - npm missing: a warning, and the same placeholder.
//! - Otherwise: `npm ci` when `web/node_modules` is missing or older than the lock file,
//!   then `npm run build`, re-run only when the UI sources or the schema change.

use std::path::Path;
use std::process::Command;

const PLACEHOLDER: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Klaxon</title></head>\
<body><main><h1>Klaxon</h1><p>The web UI was not built into this binary. Install Node.js 20+ and npm, \
then rebuild (or run <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>). \
The GraphQL API is at <a href=\"/graphql\">/graphql</a>.</p></main></body></html>\n";

fn main() {
    for path in [
        "web/src",
        "web/index.html",
        "web/graphiql.html",
        "web/package.json",
        "web/package-lock.json",
        "web/vite.config.ts",
        "web/tsconfig.json",
        "schema.graphql",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-env-changed=KLAXON_SKIP_WEB");

    let dist = Path::new("web/dist");
    let skip = std::env::var("KLAXON_SKIP_WEB").is_ok_and(|v| !v.is_empty() && v != "0");
    if !skip && Path::new("web/package.json").exists() {
        build_ui();
    }
    if !dist.join("index.html").exists() {
        if let Err(e) = std::fs::create_dir_all(dist)
            .and_then(|()| std::fs::write(dist.join("index.html"), PLACEHOLDER))
        {
            println!("cargo:warning=could not write the placeholder UI: {e}");
        }
    }
}

fn build_ui() {
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    if Command::new(npm).arg("--version").output().is_err() {
        println!(
            "cargo:warning=npm not found: the web UI is not built (a placeholder page is served). Install Node.js 20+ or set KLAXON_SKIP_WEB=1 to silence this."
        );
        return;
    }
    if needs_install() && !run(npm, &["ci", "--no-audit", "--no-fund"]) {
        return;
    }
    run(npm, &["run", "build"]);
}

/// `npm ci` is needed when `web/node_modules` is missing, or older than the lock file (a
/// pull that changed the UI's dependencies): npm records what it installed in
/// `node_modules/.package-lock.json`.
fn needs_install() -> bool {
    let modified = |path: &str| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    match (
        modified("web/node_modules/.package-lock.json"),
        modified("web/package-lock.json"),
    ) {
        (Some(installed), Some(locked)) => installed < locked,
        _ => true,
    }
}

fn run(npm: &str, args: &[&str]) -> bool {
    match Command::new(npm).args(args).current_dir("web").output() {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            for line in stdout
                .lines()
                .chain(stderr.lines())
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                println!("cargo:warning={line}");
            }
            panic!(
                "`npm {}` failed in web/ (set KLAXON_SKIP_WEB=1 to build without the UI)",
                args.join(" ")
            );
        }
        Err(e) => {
            println!("cargo:warning=could not run npm: {e}");
            false
        }
    }
}
