//! The search language of flows and alert episodes (EveBox/Arkime style), parsed to an AST and
//! compiled to SQL with bound parameters (both backends; never a load-all-then-filter):
//!
//! ```text
//! src:10.0.0.0/8 AND dst_port:443 AND NOT app:TLS
//! (kind:syn_flood OR family:scan) severity:>=3 since:24h
//! sni:*.example.com bytes:[1000 TO 100000] -country:US
//! ```
//!
//! A term is `field:value`; a value is a word or a "quoted string", `*` in text matches any
//! run of characters, an address may be a CIDR block, a number may be compared (`>`, `>=`,
//! `<`, `<=`) or a range `[a TO b]` (inclusive). Terms side by side are AND-ed; `AND`, `OR`,
//! `NOT` (or `-`, `!` before a term) and parentheses combine them. `since:`/`until:` take a
//! time (RFC 3339, a date, an age such as `24h`, or µs). Field names are per target
//! ([`field_names`]); an error names its position (in characters).

use std::borrow::Cow;
use std::fmt::Write;

use crate::model::IpFilter;
use crate::query::Sql;
use crate::schema::DbValue;

/// What a search is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Stored flows.
    Flows,
    /// Stored alert episodes.
    Alerts,
}

/// A search that does not parse or names what the target does not have.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at {position}: {message}")]
pub struct SearchError {
    /// Where (characters from the start).
    pub position: usize,
    /// What is wrong.
    pub message: String,
}

/// How a field's value is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// An address or CIDR block, on the listed columns (any of them).
    Ip,
    /// An integer (comparisons and ranges).
    Int,
    /// A real number (comparisons and ranges).
    Float,
    /// Text, case-insensitive, `*` wildcards.
    Text,
    /// Text compared exactly as stored (names with a fixed case).
    Exact,
    /// An IP protocol: a number or tcp/udp/icmp/icmpv6.
    Protocol,
    /// A time (`since:`, `until:`).
    Time,
}

/// A searchable field: its names, how it compares, and the columns it is (any of them), or
/// a column expression.
struct Field {
    names: &'static [&'static str],
    kind: Kind,
    columns: &'static [&'static str],
}

macro_rules! fields {
    ($($names:expr => $kind:ident [$($col:expr),*];)*) => {
        &[$(Field { names: &$names, kind: Kind::$kind, columns: &[$($col),*] },)*]
    };
}

/// The fields of flows.
const FLOW_FIELD_TABLE: &[Field] = fields! {
    ["ip", "host"] => Ip ["src_ip", "dst_ip"];
    ["src", "src_ip"] => Ip ["src_ip"];
    ["dst", "dst_ip"] => Ip ["dst_ip"];
    ["port"] => Int ["src_port", "dst_port"];
    ["src_port", "sport"] => Int ["src_port"];
    ["dst_port", "dport"] => Int ["dst_port"];
    ["proto", "protocol"] => Protocol ["protocol"];
    ["app", "application"] => Exact ["application"];
    ["service"] => Text ["service"];
    ["country"] => Exact ["src_country", "dst_country"];
    ["asn"] => Int ["src_asn", "dst_asn"];
    ["as_name", "org"] => Text ["src_as_name", "dst_as_name"];
    ["device"] => Text ["src_device", "dst_device"];
    ["dns", "query"] => Text ["dns_query"];
    ["sni", "tls_sni"] => Text ["tls_sni"];
    ["http_host"] => Text ["http_host"];
    ["uri", "http_uri"] => Text ["http_uri"];
    ["ua", "user_agent"] => Text ["http_user_agent"];
    ["community_id"] => Exact ["community_id"];
    ["direction"] => Text ["direction"];
    ["label"] => Exact ["label"];
    ["score", "p_attack"] => Float ["p_attack"];
    ["packets"] => Int ["(fwd_packets + bwd_packets)"];
    ["bytes"] => Int ["(fwd_bytes + bwd_bytes)"];
    ["capture"] => Int ["capture_id"];
    ["since"] => Time ["first_seen"];
    ["until"] => Time ["first_seen"];
};

/// The fields of alert episodes.
const ALERT_FIELD_TABLE: &[Field] = fields! {
    ["ip", "host"] => Ip ["src_ip", "dst_ip"];
    ["src", "src_ip", "attacker"] => Ip ["src_ip"];
    ["dst", "dst_ip", "victim"] => Ip ["dst_ip"];
    ["kind"] => Exact ["kind"];
    ["family"] => Exact ["family"];
    ["detector"] => Exact ["detector"];
    ["severity"] => Int ["severity"];
    ["confidence"] => Float ["confidence"];
    ["status"] => Exact ["status"];
    ["verdict"] => Exact ["verdict"];
    ["incident"] => Int ["incident_id"];
    ["device"] => Text ["src_device", "dst_device"];
    ["community_id"] => Exact ["community_id"];
    ["summary"] => Text ["summary"];
    ["flows"] => Int ["flows"];
    ["capture"] => Int ["capture_id"];
    ["since"] => Time ["raised_at"];
    ["until"] => Time ["first_seen"];
};

/// The field names of a target's searches.
pub fn field_names(target: Target) -> Vec<&'static str> {
    table(target)
        .iter()
        .flat_map(|f| f.names.iter().copied())
        .collect()
}

fn table(target: Target) -> &'static [Field] {
    match target {
        Target::Flows => FLOW_FIELD_TABLE,
        Target::Alerts => ALERT_FIELD_TABLE,
    }
}

/// The flow columns an index leads with after the minute (`schema::FLOW_INDEXES`).
const MINUTE_INDEXED: [&str; 3] = ["src_ip", "dst_ip", "dst_port"];

/// Whether every flow a search matches has a condition on an address or the destination port
/// (a term, not negated, that all of it requires, comparing equal): the flows listing then
/// walks the minutes, answering from the indexes led by the minute as it does for the same
/// filters, instead of reading every flow newest first.
pub fn narrows_by_minute_index(e: &Expr) -> bool {
    match e {
        Expr::And(a, b) => narrows_by_minute_index(a) || narrows_by_minute_index(b),
        Expr::Term {
            field,
            compare: Compare::Eq(v),
            ..
        } => {
            let name = field.to_ascii_lowercase();
            FLOW_FIELD_TABLE
                .iter()
                .find(|f| f.names.contains(&name.as_str()))
                .is_some_and(|f| {
                    !v.contains('*') && f.columns.iter().all(|c| MINUTE_INDEXED.contains(c))
                })
        }
        Expr::Or(..) | Expr::Not(_) | Expr::Term { .. } => false,
    }
}

/// How a term compares.
#[derive(Clone, Debug, PartialEq)]
pub enum Compare {
    /// Equal (text: matches, with `*` wildcards).
    Eq(String),
    /// Greater than.
    Gt(String),
    /// At least.
    Ge(String),
    /// Less than.
    Lt(String),
    /// At most.
    Le(String),
    /// Between, inclusive.
    Range(String, String),
}

/// A parsed search.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `field:value`, at its position.
    Term {
        /// The field as written.
        field: String,
        /// The comparison.
        compare: Compare,
        /// Where the term starts.
        position: usize,
    },
    /// Both.
    And(Box<Expr>, Box<Expr>),
    /// Either.
    Or(Box<Expr>, Box<Expr>),
    /// Not.
    Not(Box<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Colon,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Minus,
    Bang,
    Op(&'static str),
}

fn err(position: usize, message: impl Into<String>) -> SearchError {
    SearchError {
        position,
        message: message.into(),
    }
}

/// Splits a search into tokens with their positions (in characters).
fn tokens(q: &str) -> Result<Vec<(usize, Tok)>, SearchError> {
    let chars: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            ':' => out.push((start, Tok::Colon)),
            '(' => out.push((start, Tok::LParen)),
            ')' => out.push((start, Tok::RParen)),
            '[' => out.push((start, Tok::LBracket)),
            ']' => out.push((start, Tok::RBracket)),
            '!' => out.push((start, Tok::Bang)),
            '-' if out.last().is_none_or(|(_, t)| !matches!(t, Tok::Colon)) => {
                out.push((start, Tok::Minus))
            }
            '>' | '<' => {
                let eq = chars.get(i + 1) == Some(&'=');
                let op = match (c, eq) {
                    ('>', true) => ">=",
                    ('>', false) => ">",
                    ('<', true) => "<=",
                    _ => "<",
                };
                if eq {
                    i += 1;
                }
                out.push((start, Tok::Op(op)));
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(err(start, "a quoted value is not closed")),
                        Some('"') => break,
                        Some('\\') if chars.get(i + 1).is_some() => {
                            s.push(chars[i + 1]);
                            i += 2;
                            continue;
                        }
                        Some(&ch) => s.push(ch),
                    }
                    i += 1;
                }
                out.push((start, Tok::Quoted(s)));
            }
            _ => {
                let mut s = String::new();
                while let Some(&ch) = chars.get(i) {
                    // A colon inside an IPv6 address or a time belongs to the word once the
                    // field's colon has been seen.
                    let in_value = matches!(out.last(), Some((_, Tok::Colon | Tok::Op(_))));
                    if ch.is_whitespace()
                        || matches!(ch, '(' | ')' | '[' | ']' | '"')
                        || (ch == ':' && !in_value)
                    {
                        break;
                    }
                    s.push(ch);
                    i += 1;
                }
                out.push((start, Tok::Word(s)));
                continue;
            }
        }
        i += 1;
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    at: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|(_, t)| t)
    }

    fn pos(&self) -> usize {
        self.toks.get(self.at).map_or(self.end, |(p, _)| *p)
    }

    fn next(&mut self) -> Option<(usize, Tok)> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w == k)
    }

    fn or(&mut self) -> Result<Expr, SearchError> {
        let mut e = self.and()?;
        while self.keyword("OR") {
            self.at += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, SearchError> {
        let mut e = self.unary()?;
        loop {
            if self.keyword("AND") {
                self.at += 1;
            } else if self.peek().is_none()
                || self.keyword("OR")
                || matches!(self.peek(), Some(Tok::RParen))
            {
                return Ok(e);
            }
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, SearchError> {
        if self.keyword("NOT") || matches!(self.peek(), Some(Tok::Minus | Tok::Bang)) {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if matches!(self.peek(), Some(Tok::LParen)) {
            let open = self.pos();
            self.at += 1;
            let e = self.or()?;
            return match self.next() {
                Some((_, Tok::RParen)) => Ok(e),
                _ => Err(err(open, "this parenthesis is not closed")),
            };
        }
        self.term()
    }

    fn value(&mut self) -> Result<String, SearchError> {
        let at = self.pos();
        match self.next() {
            Some((_, Tok::Word(w) | Tok::Quoted(w))) => Ok(w),
            _ => Err(err(at, "a value is missing")),
        }
    }

    fn term(&mut self) -> Result<Expr, SearchError> {
        let position = self.pos();
        let field = match self.next() {
            Some((_, Tok::Word(w))) => w,
            Some((p, t)) => {
                return Err(err(p, format!("expected field:value, found {}", show(&t))))
            }
            None => return Err(err(position, "expected field:value, found the end")),
        };
        if !matches!(self.next(), Some((_, Tok::Colon))) {
            return Err(err(
                position,
                format!("{field:?} is not field:value (e.g. src:10.0.0.1)"),
            ));
        }
        let compare = match self.peek() {
            Some(Tok::Op(op)) => {
                let op = *op;
                self.at += 1;
                let v = self.value()?;
                match op {
                    ">" => Compare::Gt(v),
                    ">=" => Compare::Ge(v),
                    "<" => Compare::Lt(v),
                    _ => Compare::Le(v),
                }
            }
            Some(Tok::LBracket) => {
                let open = self.pos();
                self.at += 1;
                let a = self.value()?;
                if !self.keyword("TO") {
                    return Err(err(self.pos(), "a range is [low TO high]"));
                }
                self.at += 1;
                let b = self.value()?;
                if !matches!(self.next(), Some((_, Tok::RBracket))) {
                    return Err(err(open, "this range is not closed with ]"));
                }
                Compare::Range(a, b)
            }
            _ => Compare::Eq(self.value()?),
        };
        Ok(Expr::Term {
            field,
            compare,
            position,
        })
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("{w:?}"),
        Tok::Quoted(w) => format!("\"{w}\""),
        Tok::Colon => "':'".into(),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
        Tok::Minus => "'-'".into(),
        Tok::Bang => "'!'".into(),
        Tok::Op(o) => format!("'{o}'"),
    }
}

/// Parses a search and checks every field and value against `target` (so a search that
/// parses also compiles).
pub fn parse(q: &str, target: Target) -> Result<Expr, SearchError> {
    let toks = tokens(q)?;
    let end = q.chars().count();
    if toks.is_empty() {
        return Err(err(0, "the search is empty"));
    }
    let mut p = Parser { toks, at: 0, end };
    let e = p.or()?;
    if let Some((pos, t)) = p.next() {
        return Err(err(pos, format!("unexpected {}", show(&t))));
    }
    // Compiling checks the fields and values.
    compile(&e, target, &mut Sql::default())?;
    Ok(e)
}

/// Escapes `%`, `_` and `\` for `LIKE … ESCAPE '\'` and turns `*` into `%`.
fn like(v: &str) -> String {
    let mut p = String::with_capacity(v.len());
    for ch in v.to_lowercase().chars() {
        match ch {
            '%' | '_' | '\\' => {
                p.push('\\');
                p.push(ch);
            }
            '*' => p.push('%'),
            c => p.push(c),
        }
    }
    p
}

fn protocol_number(v: &str) -> Option<i64> {
    match v.to_ascii_lowercase().as_str() {
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmp" => Some(1),
        "icmpv6" | "ipv6-icmp" => Some(58),
        "sctp" => Some(132),
        "gre" => Some(47),
        n => n.parse().ok().filter(|p| (0..=255).contains(p)),
    }
}

/// Compiles a search into `sql`: the condition, with its parameters added to `sql`.
pub fn compile(e: &Expr, target: Target, sql: &mut Sql) -> Result<String, SearchError> {
    Ok(match e {
        Expr::And(a, b) => format!(
            "({} AND {})",
            compile(a, target, sql)?,
            compile(b, target, sql)?
        ),
        Expr::Or(a, b) => format!(
            "({} OR {})",
            compile(a, target, sql)?,
            compile(b, target, sql)?
        ),
        // A NULL column is "not matching": NOT must hold for it too.
        Expr::Not(a) => format!("(NOT COALESCE({}, FALSE))", compile(a, target, sql)?),
        Expr::Term {
            field,
            compare,
            position,
        } => term(target, field, compare, *position, sql)?,
    })
}

fn term(
    target: Target,
    field: &str,
    compare: &Compare,
    position: usize,
    sql: &mut Sql,
) -> Result<String, SearchError> {
    let f = table(target)
        .iter()
        .find(|f| f.names.contains(&field.to_ascii_lowercase().as_str()))
        .ok_or_else(|| {
            err(
                position,
                format!(
                    "unknown field {field:?}; fields: {}",
                    field_names(target).join(", ")
                ),
            )
        })?;
    let value_at = position + field.chars().count() + 1;
    let bad = |m: String| err(value_at, m);
    // One condition per column, OR-ed (either end).
    let mut conds = Vec::new();
    for col in f.columns {
        let c = match (f.kind, compare) {
            (Kind::Ip, Compare::Eq(v)) => {
                let ip = IpFilter::parse(v.trim()).map_err(|e| bad(format!("{field}: {e}")))?;
                // Only the parameters used: PostgreSQL refuses a statement with a parameter
                // it cannot type.
                if ip.lo == ip.hi {
                    format!("{col} = {}", sql.param(DbValue::Ip(ip.lo)))
                } else {
                    let (lo, hi) = (sql.param(DbValue::Ip(ip.lo)), sql.param(DbValue::Ip(ip.hi)));
                    format!("({col} >= {lo} AND {col} <= {hi})")
                }
            }
            (Kind::Ip, _) => return Err(bad(format!("{field} takes an address or CIDR block"))),
            (Kind::Int | Kind::Float | Kind::Protocol, c) => {
                let num = |v: &str| -> Result<DbValue<'static>, SearchError> {
                    match f.kind {
                        Kind::Float => v
                            .parse::<f64>()
                            .ok()
                            .filter(|x| x.is_finite())
                            .map(DbValue::Float)
                            .ok_or_else(|| bad(format!("{field}: {v:?} is not a number"))),
                        Kind::Protocol => protocol_number(v)
                            .map(DbValue::Int)
                            .ok_or_else(|| bad(format!("{field}: {v:?} is not a protocol"))),
                        _ => v
                            .parse::<i64>()
                            .map(DbValue::Int)
                            .map_err(|_| bad(format!("{field}: {v:?} is not an integer"))),
                    }
                };
                compare_sql(sql, col, c, num)?
            }
            (Kind::Time, Compare::Eq(v)) => {
                let t = v
                    .parse::<i64>()
                    .or_else(|_| crate::model::parse_time(v))
                    .map_err(|e| bad(format!("{field}: {e}")))?;
                let p = sql.param(DbValue::Time(t));
                if f.names[0] == "since" {
                    format!("{col} >= {p}")
                } else {
                    format!("{col} < {p}")
                }
            }
            (Kind::Time, _) => return Err(bad(format!("{field} takes one time"))),
            (Kind::Text, Compare::Eq(v)) => {
                let p = sql.param(DbValue::Text(Cow::Owned(like(v))));
                format!("LOWER({col}) LIKE {p} ESCAPE '\\'")
            }
            (Kind::Exact, Compare::Eq(v)) => {
                if v.contains('*') {
                    let p = sql.param(DbValue::Text(Cow::Owned(like(v))));
                    format!("LOWER({col}) LIKE {p} ESCAPE '\\'")
                } else {
                    let p = sql.param(DbValue::Text(Cow::Owned(v.clone())));
                    format!("{col} = {p}")
                }
            }
            (Kind::Text | Kind::Exact, _) => {
                return Err(bad(format!("{field} is text: compare it with field:value")))
            }
        };
        conds.push(c);
    }
    Ok(if conds.len() == 1 {
        conds.remove(0)
    } else {
        format!("({})", conds.join(" OR "))
    })
}

fn compare_sql(
    sql: &mut Sql,
    col: &str,
    c: &Compare,
    num: impl Fn(&str) -> Result<DbValue<'static>, SearchError>,
) -> Result<String, SearchError> {
    let mut one = |op: &str, v: &str| -> Result<String, SearchError> {
        let p = sql.param(num(v)?);
        Ok(format!("{col} {op} {p}"))
    };
    Ok(match c {
        Compare::Eq(v) => one("=", v)?,
        Compare::Gt(v) => one(">", v)?,
        Compare::Ge(v) => one(">=", v)?,
        Compare::Lt(v) => one("<", v)?,
        Compare::Le(v) => one("<=", v)?,
        Compare::Range(a, b) => {
            let lo = one(">=", a)?;
            let hi = one("<=", b)?;
            format!("({lo} AND {hi})")
        }
    })
}

/// `AND` the search's condition to `w`, its parameters to `sql`.
pub(crate) fn and_where(sql: &mut Sql, w: &mut String, e: &Expr, target: Target) {
    // A search is checked when parsed; one that no longer compiles matches nothing.
    match compile(e, target, sql) {
        Ok(c) => {
            let _ = write!(w, " AND {c}");
        }
        Err(_) => w.push_str(" AND FALSE"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql_of(q: &str, t: Target) -> (String, usize) {
        let e = parse(q, t).unwrap_or_else(|e| panic!("{q}: {e}"));
        let mut s = Sql::default();
        let c = compile(&e, t, &mut s).unwrap();
        (c, s.params.len())
    }

    #[test]
    fn terms_side_by_side_are_anded_and_or_binds_looser() {
        let (c, n) = sql_of("src:10.0.0.0/8 dst_port:443 OR app:TLS", Target::Flows);
        assert_eq!(
            c,
            "(((src_ip >= $1 AND src_ip <= $2) AND dst_port = $3) OR application = $4)"
        );
        assert_eq!(n, 4);
    }

    #[test]
    fn negation_ranges_comparisons_and_wildcards_compile_to_bound_sql() {
        let (c, _) = sql_of(
            "-country:US bytes:[1000 TO 2000] score:>=0.9 sni:*.Example.com proto:udp",
            Target::Flows,
        );
        assert!(
            c.contains("(NOT COALESCE((src_country = $1 OR dst_country = $2), FALSE))"),
            "{c}"
        );
        assert!(
            c.contains("((fwd_bytes + bwd_bytes) >= $3 AND (fwd_bytes + bwd_bytes) <= $4)"),
            "{c}"
        );
        assert!(c.contains("p_attack >= $5"), "{c}");
        assert!(c.contains("LOWER(tls_sni) LIKE $6 ESCAPE"), "{c}");
        assert!(c.contains("protocol = $7"), "{c}");
        let e = parse("sni:*.Example.com", Target::Flows).unwrap();
        let mut s = Sql::default();
        compile(&e, Target::Flows, &mut s).unwrap();
        assert_eq!(
            s.params,
            vec![DbValue::Text(Cow::Owned("%.example.com".into()))]
        );
    }

    #[test]
    fn errors_name_their_position() {
        let cases = [
            ("src:10.0.0.0/33", 4),
            ("srcip:10.0.0.1", 0),
            ("dst_port:https", 9),
            ("(kind:syn_flood", 0),
            ("kind:syn_flood )", 15),
            ("bytes:[1 2]", 9),
            ("severity:>=x", 9),
            ("kind:\"open", 5),
            ("", 0),
            ("AND", 0),
        ];
        for (q, at) in cases {
            let target = if q.contains("kind") || q.contains("severity") {
                Target::Alerts
            } else {
                Target::Flows
            };
            let e = parse(q, target).expect_err(q);
            assert_eq!(e.position, at, "{q}: {e}");
        }
    }

    #[test]
    fn ipv6_addresses_and_times_keep_their_colons() {
        let (c, n) = sql_of("ip:2001:db8::/32 since:2017-07-07T09:00:00Z", Target::Flows);
        assert!(
            c.starts_with("(((src_ip >= $1 AND src_ip <= $2) OR (dst_ip >= $3"),
            "{c}"
        );
        assert!(c.ends_with("first_seen >= $5)"), "{c}");
        assert_eq!(n, 5);
    }
}
