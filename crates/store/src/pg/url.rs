//! The URL: netvigil's `schema=` parameter, and the database as messages name it (never with
//! its password).

use postgres::Config;

use super::DEFAULT_SCHEMA;

/// Decodes `%XX` escapes of a URL parameter value.
fn percent_decode(s: &str) -> std::result::Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad escape in {s:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} is not UTF-8"))
}

/// Splits netvigil's `schema=NAME` parameter off a URL: the URL for the client (other
/// parameters kept, in order) and the schema (default `public`).
pub(super) fn split_schema(url: &str) -> std::result::Result<(String, String), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), DEFAULT_SCHEMA.to_string()));
    };
    let mut schema = None;
    let mut kept = Vec::new();
    for p in query.split('&').filter(|p| !p.is_empty()) {
        match p.split_once('=') {
            Some(("schema", v)) => schema = Some(percent_decode(v)?),
            _ => kept.push(p),
        }
    }
    let schema = schema.unwrap_or_else(|| DEFAULT_SCHEMA.to_string());
    if schema.is_empty() || schema.len() > 63 || schema.contains('\0') {
        return Err(format!(
            "schema {schema:?}: expected a name of 1 to 63 bytes"
        ));
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, schema))
}

/// A URL without its user, password and parameters (for messages before it parses).
pub(super) fn redacted(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let rest = rest.split('?').next().unwrap_or("");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}/{path}")
}

/// `host:port/db`, and `/schema` when not `public`: never a password.
pub(super) fn target_of(config: &Config, schema: &str) -> String {
    use postgres::config::Host;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = config
                .get_ports()
                .get(i)
                .or_else(|| config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            match h {
                Host::Tcp(name) if name.contains(':') => format!("[{name}]:{port}"),
                Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    let hosts = if hosts.is_empty() {
        "localhost:5432".to_string()
    } else {
        hosts.join(",")
    };
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    if schema == DEFAULT_SCHEMA {
        format!("{hosts}/{db}")
    } else {
        format!("{hosts}/{db}/{schema}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_parameter_is_split_off_and_passwords_never_shown() {
        assert_eq!(
            split_schema("postgres://u:p@h:1/db?a=1&schema=my%20s&b=2").unwrap(),
            (
                "postgres://u:p@h:1/db?a=1&b=2".to_string(),
                "my s".to_string()
            )
        );
        assert_eq!(
            split_schema("postgres://h/db?schema=x").unwrap(),
            ("postgres://h/db".to_string(), "x".to_string())
        );
        assert_eq!(split_schema("postgres://h/db").unwrap().1, "public");
        assert_eq!(
            redacted("postgres://u:p@h:1/db?password=x"),
            "postgres://h:1/db"
        );
    }
}
