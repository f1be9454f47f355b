//! Puts the git commit the binary was built from into `--version` (NETVIGIL_VERSION), e.g.
//! `0.1.0 (commit 7245e42ab1c3)`, with `-dirty` when the work tree had uncommitted changes.
//! Outside a git checkout (a source archive) it says the commit is unknown.

use std::path::Path;
use std::process::Command;

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let root = Path::new(&manifest).join("../..");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let commit = git(&root, &["rev-parse", "--short=12", "HEAD"]);
    let described = match commit {
        Some(c) => {
            let dirty = git(&root, &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            format!(
                "{version} (commit {c}{})",
                if dirty { "-dirty" } else { "" }
            )
        }
        None => format!("{version} (commit unknown: not built from a git checkout)"),
    };
    println!("cargo:rustc-env=NETVIGIL_VERSION={described}");
    // Rebuild the string when the checked-out commit or the index changes.
    if let Some(git_dir) = git(&root, &["rev-parse", "--absolute-git-dir"]) {
        let g = Path::new(&git_dir);
        println!("cargo:rerun-if-changed={}", g.join("HEAD").display());
        println!("cargo:rerun-if-changed={}", g.join("index").display());
        if let Some(r) = git(&root, &["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={}", g.join(r).display());
        }
        println!("cargo:rerun-if-changed={}", g.join("packed-refs").display());
    }
    println!("cargo:rerun-if-changed=build.rs");
}
