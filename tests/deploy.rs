//! The deployment files under `deploy/` (Containerfile, compose, kustomize
//! base and example overlay), linted offline: `deploy/check` renders the
//! Kubernetes manifests with `kubectl kustomize` and checks what the
//! deployment relies on, checks that the compose file, its HAProxy
//! configuration and the replicas' configuration agree (and `haproxy -c`),
//! and the Containerfile's shape; here, every `signatrust.toml` shipped
//! there is also loaded by the server's own configuration parser, so a
//! misspelt or out-of-range setting fails. No image is built and nothing
//! is deployed (no registry, engine or cluster is reachable).
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn deploy_check_passes() {
    let out = Command::new("/usr/bin/python3")
        .arg(Path::new(ROOT).join("deploy/check"))
        .output()
        .expect("python3 (Debian: python3 python3-yaml, scripts/install-deps)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "deploy/check failed:\n{text}");
    assert!(text.contains("ok: deploy/compose"), "{text}");
    assert!(text.contains("ok: deploy/Containerfile"), "{text}");
}

#[test]
fn shipped_configurations_load() {
    for rel in [
        "deploy/base/signatrust.toml",
        "deploy/overlays/example/signatrust.toml",
        "deploy/compose/replica.toml",
    ] {
        let path = Path::new(ROOT).join(rel);
        let c = signatrust::config::Config::load(None, Some(path), None)
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(c.metrics_listen.map(|a| a.port()), Some(9167), "{rel}");
        assert!(!c.edge.drain_grace.is_zero(), "{rel}: drain_grace_ms");
    }
    let example = signatrust::config::Config::load(
        None,
        Some(Path::new(ROOT).join("deploy/overlays/example/signatrust.toml")),
        None,
    )
    .unwrap();
    assert!(example
        .edge
        .expects_proxy_header("10.10.0.5".parse().unwrap()));
    assert!(!example
        .edge
        .expects_proxy_header("10.20.0.7".parse().unwrap()));
}
