//! `netvigil serve` over HTTPS when given a certificate: the API answers a client that trusts
//! the certificate, the session cookie is `Secure`, and a plain-HTTP client or one that does
//! not trust the certificate gets nothing.

mod common;

use std::sync::Arc;

use common::server::*;
use common::*;

#[test]
fn the_api_serves_https_with_the_given_certificate_and_secure_cookies() {
    let d = temp("tls");
    // A test CA and a server certificate it signs for 127.0.0.1.
    let (ca, ca_key) = (d.join("ca.pem"), d.join("ca.key"));
    let (cert, key, csr, ext) = (
        d.join("cert.pem"),
        d.join("key.pem"),
        d.join("server.csr"),
        d.join("ext.cnf"),
    );
    let openssl = |args: &[&str]| {
        run(std::process::Command::new("openssl")
            .args(args)
            .current_dir(&d));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=netvigil test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ]);
    assert!(csr.exists() && ca_key.exists());
    let db = d.join("nv.db");
    let db = db.to_str().unwrap();
    let config = format!(
        "request_log = false\ntls_cert = {:?}\ntls_key = {:?}\n",
        cert.to_str().unwrap(),
        key.to_str().unwrap()
    );
    let (s, password) = Server::start(db, &config, &d);
    let password = password.expect("the first run makes the admin");
    assert!(s.base.starts_with("https://127.0.0.1:"), "{}", s.base);

    // A client trusting the certificate.
    let pem = std::fs::read(&ca).unwrap();
    let root = ureq::tls::Certificate::from_pem(&pem).unwrap().to_owned();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![root])))
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .build()
        .into();
    let health = agent.get(format!("{}/api/health", s.base)).call().unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let login = agent
        .post(format!("{}/api/session", s.base))
        .header("content-type", "application/json")
        .send(format!(r#"{{"name":"admin","password":"{password}"}}"#).as_bytes())
        .unwrap();
    assert_eq!(login.status().as_u16(), 200);
    let cookie = login
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );

    // A client that does not trust it, and one speaking plain HTTP, get no answer.
    let plain: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    assert!(plain.get(format!("{}/api/health", s.base)).call().is_err());
    let http = s.base.replace("https://", "http://");
    assert!(plain.get(format!("{http}/api/health")).call().is_err());
    // The server still answers after both.
    let again = agent.get(format!("{}/api/health", s.base)).call().unwrap();
    assert_eq!(again.status().as_u16(), 200);
}
