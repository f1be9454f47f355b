//! The web attack patterns and the matcher over a request's target and user agent.
//!
//! Matching is a documented pattern set over a normalised copy of the request target: percent
//! decoding (`%XX`, IIS `%uXXXX`, `+` as a space), a second decoding when the first left
//! escapes (double encoding), the overlong UTF-8 forms of `/`, `\` and `.`, ASCII lowercase,
//! runs of whitespace as one space and, for SQL, inline comments (`/**/`) as a space (the user
//! agent likewise, but not decoded: servers take headers as sent). Words in a pattern must
//! stand as words (`union select` does not match `reunion selects`). One pass over the text
//! finds every literal pattern (indexed by their first two bytes), and a user agent that
//! matched nothing is remembered, so a request costs well under a microsecond whatever the
//! number of patterns.
//!
//! The libinjection bindings do not build here (their build scripts clone the C library from
//! GitHub), and the pure-Rust port is an unreviewed machine translation at 0.1; a pattern set
//! also names what matched, which is the evidence. `docs/rules.md` lists every pattern.

use super::WebAttack;

/// SQL injection: literal patterns (lowercase, normalised).
pub const SQLI_PATTERNS: [&str; 35] = [
    "union select",
    "union all select",
    "union distinct select",
    "union(select",
    "' or '",
    "'--",
    "' --",
    "')--",
    "') --",
    "'#",
    "' #",
    "'/*",
    ";--",
    "' + '",
    "'+'",
    "' || '",
    "'||'",
    "sleep(",
    "pg_sleep(",
    "benchmark(",
    "waitfor delay",
    "information_schema",
    "xp_cmdshell",
    "load_file(",
    "into outfile",
    "into dumpfile",
    "@@version",
    "group_concat(",
    "extractvalue(",
    "updatexml(",
    "sqlite_master",
    "pg_catalog",
    "sysobjects",
    "dbms_pipe.receive_message",
    "utl_inaddr",
];

/// Name of the computed SQL pattern `or|and <x> = <y>` comparing constants: the same operand on
/// both sides (`' or 'a'='a`) or two numbers (a blind probe's `and 1=0`).
pub const SQLI_TAUTOLOGY: &str = "or/and const=const";
/// Name of the computed SQL pattern `; <statement keyword>`.
pub const SQLI_STACKED: &str = "; <statement>";

/// Statement keywords that make `;` a stacked query.
const STACKED_KEYWORDS: [&str; 13] = [
    "select", "insert", "update", "delete", "drop", "exec", "execute", "declare", "shutdown",
    "waitfor", "create", "alter", "truncate",
];

/// Cross-site scripting: literal patterns.
pub const XSS_PATTERNS: [&str; 18] = [
    "<script",
    "</script",
    "javascript:",
    "vbscript:",
    "<svg",
    "<iframe",
    "<object",
    "<embed",
    "<body",
    "document.cookie",
    "document.domain",
    "string.fromcharcode",
    "alert(",
    "prompt(",
    "confirm(",
    "eval(",
    "expression(",
    "data:text/html",
];

/// Name of the computed XSS pattern `<img` followed later by `src=`.
pub const XSS_IMG_SRC: &str = "<img … src=";

/// Event handler attributes (`<name>=`, after a space, `/` or a quote: not a query parameter).
pub const XSS_HANDLERS: [&str; 20] = [
    "onerror",
    "onload",
    "onmouseover",
    "onmouseout",
    "onmouseenter",
    "onmousemove",
    "onfocus",
    "onblur",
    "onclick",
    "ondblclick",
    "onkeydown",
    "onkeyup",
    "onkeypress",
    "onchange",
    "onsubmit",
    "ontoggle",
    "onanimationstart",
    "onpageshow",
    "onpointerover",
    "onbegin",
];

/// Path traversal and file inclusion: literal patterns.
pub const TRAVERSAL_PATTERNS: [&str; 10] = [
    "/etc/passwd",
    "/etc/shadow",
    "/etc/hosts",
    "/proc/self/",
    "boot.ini",
    "win.ini",
    "system.ini",
    "web-inf/web.xml",
    "c:\\windows\\",
    "c:/windows/",
];

/// Name of the computed traversal pattern: two or more `../`, `..\` or `..;/`.
pub const TRAVERSAL_DOTDOT: &str = "../ ×2+";

/// Known scanners and attack tools, as they name themselves in the `User-Agent` (lowercase
/// substrings; nessus and openvas only where their plugins say so).
pub const SCANNER_AGENTS: [&str; 27] = [
    "sqlmap",
    "nikto",
    "nmap scripting engine",
    "nmap nse",
    "masscan",
    "zgrab",
    "gobuster",
    "dirbuster",
    "feroxbuster",
    "wpscan",
    "acunetix",
    "nessus",
    "openvas",
    "w3af",
    "burpcollaborator",
    "nuclei",
    "fuzz faster u fool",
    "wfuzz",
    "arachni",
    "skipfish",
    "netsparker",
    "zmeu",
    "morfeus",
    "jorgee",
    "havij",
    "commix",
    "xsstrike",
];

/// Out-of-band interaction domains of Burp Collaborator and interactsh: a request target
/// naming one is a scanner's probe.
pub const SCANNER_OAST_DOMAINS: [&str; 9] = [
    "burpcollaborator.net",
    "oastify.com",
    "interact.sh",
    "oast.pro",
    "oast.live",
    "oast.site",
    "oast.online",
    "oast.fun",
    "oast.me",
];

/// Where a pattern matched.
pub const IN_URI: u8 = 1;
/// … in the user agent.
pub const IN_USER_AGENT: u8 = 2;

/// What one request matched, per class: pattern names in pattern-list order, and where.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Matches {
    /// Pattern names per class ([`WebAttack`] order).
    pub patterns: [Vec<&'static str>; 4],
    /// [`IN_URI`] | [`IN_USER_AGENT`] per class.
    pub fields: [u8; 4],
}

impl Matches {
    /// The pattern names of `class`.
    pub fn of(&self, class: WebAttack) -> &[&'static str] {
        &self.patterns[class.index()]
    }

    /// Whether nothing matched.
    pub fn is_empty(&self) -> bool {
        self.patterns.iter().all(Vec::is_empty)
    }

    fn clear(&mut self) {
        for p in &mut self.patterns {
            p.clear();
        }
        self.fields = [0; 4];
    }

    fn add(&mut self, class: WebAttack, name: &'static str, field: u8) {
        let v = &mut self.patterns[class.index()];
        if !v.contains(&name) {
            v.push(name);
        }
        self.fields[class.index()] |= field;
    }
}

/// The patterns, with scratch buffers reused across requests (no allocation per request once
/// they have grown).
pub struct Matcher {
    decoded: Vec<u8>,
    twice: Vec<u8>,
    /// The normalised text (its capacity shows whether a request was matched at all).
    pub(super) norm: Vec<u8>,
    sql: Vec<u8>,
    /// Hashes (| 1) of user agents that matched nothing, by their low byte: a network's few
    /// browsers' agents are matched once, not per request.
    benign_agents: Box<[u64; 256]>,
    hasher: super::super::KeyHasher,
}

impl Default for Matcher {
    fn default() -> Self {
        Matcher {
            decoded: Vec::new(),
            twice: Vec::new(),
            norm: Vec::new(),
            sql: Vec::new(),
            benign_agents: Box::new([0; 256]),
            hasher: super::super::KeyHasher::default(),
        }
    }
}

/// Every class but SQL injection (searched in the SQL view of a text when it differs).
const NOT_SQL: u8 = !(1 << WebAttack::SqlInjection as u8);
/// Every class.
const ALL: u8 = u8::MAX;

impl Matcher {
    /// Matches one request's target and user agent into `out` (cleared first); pattern names
    /// come sorted per class.
    pub fn request(&mut self, uri: Option<&str>, user_agent: Option<&str>, out: &mut Matches) {
        out.clear();
        for (text, field) in [(uri, IN_URI), (user_agent, IN_USER_AGENT)] {
            let Some(text) = text else { continue };
            let mut agent = None;
            if field == IN_USER_AGENT {
                let h = self.hasher.hash_one(text) | 1;
                if self.benign_agents[(h & 255) as usize] == h {
                    continue;
                }
                agent = Some((h, out.fields));
            }
            self.normalise(text.as_bytes(), field == IN_URI);
            let norm = Text::new(&self.norm);
            if self.sql.is_empty() {
                scan(&norm, field, ALL, out);
                computed(&norm, &norm, field, out);
            } else {
                let sql = Text::new(&self.sql);
                scan(&norm, field, NOT_SQL, out);
                scan(&sql, field, 1 << WebAttack::SqlInjection as u8, out);
                computed(&norm, &sql, field, out);
            }
            if let Some((h, before)) = agent {
                // Every match of the agent sets its field's bit.
                if out.fields == before {
                    self.benign_agents[(h & 255) as usize] = h;
                }
            }
        }
        for p in &mut out.patterns {
            p.sort_unstable();
        }
    }

    /// Decodes a request target (twice when escapes remain; a header is not decoded: servers
    /// take it as sent), lowercases and collapses it into `self.norm`, and the SQL view
    /// (comments as spaces) into `self.sql` when it differs.
    fn normalise(&mut self, s: &[u8], target: bool) {
        let src = if !target {
            s
        } else if percent_decode(s, &mut self.decoded, true) {
            percent_decode(&self.decoded, &mut self.twice, false);
            &self.twice
        } else {
            &self.decoded
        };
        canonical(src, &mut self.norm);
        self.sql.clear();
        if self.norm.windows(2).any(|w| w == b"/*") {
            strip_comments(&self.norm, &mut self.sql);
        }
    }
}

/// Matches of one request (a convenience for tests and tools; the engine reuses a [`Matcher`]).
pub fn inspect(uri: Option<&str>, user_agent: Option<&str>) -> Matches {
    let mut m = Matches::default();
    Matcher::default().request(uri, user_agent, &mut m);
    m
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn hex_at(s: &[u8], i: usize) -> Option<u8> {
    Some(hex(*s.get(i)?)? << 4 | hex(*s.get(i + 1)?)?)
}

/// Percent-decodes `src` into `dst` (`%XX`, `%uXXXX` — above 0x7f as 0x80 — and, with `plus`,
/// `+` as a space); returns whether the result still holds a `%XX` escape.
fn percent_decode(src: &[u8], dst: &mut Vec<u8>, plus: bool) -> bool {
    dst.clear();
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        if c == b'%' {
            if let Some(v) = hex_at(src, i + 1) {
                dst.push(v);
                i += 3;
                continue;
            }
            if matches!(src.get(i + 1), Some(b'u' | b'U')) {
                if let (Some(h), Some(l)) = (hex_at(src, i + 2), hex_at(src, i + 4)) {
                    dst.push(if h == 0 && l < 0x80 { l } else { 0x80 });
                    i += 6;
                    continue;
                }
            }
        }
        dst.push(if plus && c == b'+' { b' ' } else { c });
        i += 1;
    }
    dst.windows(3)
        .any(|w| w[0] == b'%' && hex_at(w, 1).is_some())
}

/// ASCII lowercase, whitespace runs as one space, overlong UTF-8 `/`, `\` and `.` as
/// themselves, and every other non-ASCII byte as 0x1a (so the result is ASCII text).
fn canonical(src: &[u8], dst: &mut Vec<u8>) {
    dst.clear();
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        let next = src.get(i + 1).copied();
        let (b, used) = match (c, next) {
            (0xc0, Some(0xaf)) => (b'/', 2),
            (0xc1, Some(0x9c)) => (b'\\', 2),
            (0xc0, Some(0xae)) => (b'.', 2),
            (b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c, _) => (b' ', 1),
            (c, _) if c >= 0x80 => (0x1a, 1),
            (c, _) => (c.to_ascii_lowercase(), 1),
        };
        i += used;
        if b == b' ' && dst.last() == Some(&b' ') {
            continue;
        }
        dst.push(b);
    }
}

/// `src` with every `/* … */` as one space (an unclosed comment is kept).
fn strip_comments(src: &[u8], dst: &mut Vec<u8>) {
    dst.clear();
    let mut i = 0;
    while i < src.len() {
        if src[i..].starts_with(b"/*") {
            if let Some(end) = src[i + 2..].windows(2).position(|w| w == b"*/") {
                if dst.last() != Some(&b' ') {
                    dst.push(b' ');
                }
                i += 2 + end + 2;
                continue;
            }
        }
        if !(src[i] == b' ' && dst.last() == Some(&b' ')) {
            dst.push(src[i]);
        }
        i += 1;
    }
}

/// Normalised ASCII text and the set of bytes it holds (a computed pattern whose bytes the
/// text lacks is skipped without a search).
struct Text<'a> {
    s: &'a str,
    present: [u64; 2],
}

impl<'a> Text<'a> {
    fn new(b: &'a [u8]) -> Text<'a> {
        let mut present = [0u64; 2];
        for &c in b {
            present[usize::from(c >> 6) & 1] |= 1 << (c & 63);
        }
        // `canonical` leaves only ASCII bytes.
        Text {
            s: std::str::from_utf8(b).unwrap_or(""),
            present,
        }
    }

    fn has(&self, c: u8) -> bool {
        c < 128 && self.present[usize::from(c >> 6)] & (1 << (c & 63)) != 0
    }

    fn contains(&self, p: &str) -> bool {
        p.bytes().all(|c| self.has(c)) && self.s.contains(p)
    }
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Whether `s[i..i + len]` stands as a word: an edge that is a word character is not joined to
/// another word character of the text.
fn word_at(s: &[u8], i: usize, len: usize) -> bool {
    let start_ok = !is_word(s[i]) || i == 0 || !is_word(s[i - 1]);
    let end = i + len;
    let end_ok = !is_word(s[end - 1]) || end == s.len() || !is_word(s[end]);
    start_ok && end_ok
}

/// How a literal pattern must stand in the text.
#[derive(Clone, Copy, PartialEq)]
enum Edge {
    /// As a word (see [`word_at`]).
    Word,
    /// Anywhere (user agents and domains).
    Any,
    /// `on<handler>` after a space, `/` or quote, then `=` (after at most one space).
    Handler,
}

/// A literal pattern: its text (also its name), class, where it applies and how it stands.
struct Lit {
    text: &'static str,
    class: WebAttack,
    fields: u8,
    edge: Edge,
}

/// The literal patterns by first byte: one pass over a text finds them all.
struct Dispatch {
    lits: Vec<Lit>,
    /// Range of `lits` starting with each byte.
    by_first: [(u16, u16); 256],
    /// A bit per pair of bytes that starts a pattern (every pattern has two or more): most
    /// places of a text are passed over with one test.
    pairs: Box<[u64; 1024]>,
}

fn pair(a: u8, b: u8) -> (usize, u64) {
    let k = usize::from(a) << 8 | usize::from(b);
    (k >> 6, 1 << (k & 63))
}

fn dispatch() -> &'static Dispatch {
    static D: std::sync::OnceLock<Dispatch> = std::sync::OnceLock::new();
    D.get_or_init(|| {
        let both = IN_URI | IN_USER_AGENT;
        let mut lits: Vec<Lit> = Vec::new();
        let mut add = |list: &[&'static str], class, fields, edge| {
            lits.extend(list.iter().map(|&text| Lit {
                text,
                class,
                fields,
                edge,
            }));
        };
        add(&SQLI_PATTERNS, WebAttack::SqlInjection, both, Edge::Word);
        add(&XSS_PATTERNS, WebAttack::Xss, both, Edge::Word);
        add(&["on"], WebAttack::Xss, both, Edge::Handler);
        add(
            &TRAVERSAL_PATTERNS,
            WebAttack::PathTraversal,
            IN_URI,
            Edge::Word,
        );
        add(
            &SCANNER_AGENTS,
            WebAttack::Scanner,
            IN_USER_AGENT,
            Edge::Any,
        );
        add(&SCANNER_OAST_DOMAINS, WebAttack::Scanner, IN_URI, Edge::Any);
        lits.sort_by_key(|l| l.text.as_bytes()[0]);
        let mut by_first = [(0u16, 0u16); 256];
        let mut pairs = Box::new([0u64; 1024]);
        for (i, l) in lits.iter().enumerate() {
            let t = l.text.as_bytes();
            let (w, bit) = pair(t[0], t[1]);
            pairs[w] |= bit;
            let e = &mut by_first[usize::from(l.text.as_bytes()[0])];
            if e.1 == 0 {
                e.0 = i as u16;
            }
            e.1 = i as u16 + 1;
        }
        Dispatch {
            lits,
            by_first,
            pairs,
        }
    })
}

/// The event handler named at `i` (just after `on`), when `on` follows a space, `/` or quote
/// and the name is followed by `=`.
fn handler(s: &[u8], on: usize) -> Option<&'static str> {
    let before = if on == 0 { None } else { s.get(on - 1) };
    if !matches!(before, Some(b' ' | b'/' | b'"' | b'\'' | b'`')) {
        return None;
    }
    let end = s[on..]
        .iter()
        .position(|c| !c.is_ascii_lowercase())
        .map_or(s.len(), |p| on + p);
    let mut j = end;
    if s.get(j) == Some(&b' ') {
        j += 1;
    }
    if s.get(j) != Some(&b'=') {
        return None;
    }
    let name = &s[on..end];
    XSS_HANDLERS.iter().copied().find(|h| h.as_bytes() == name)
}

/// Finds the literal patterns of the classes in `classes` (a bit per [`WebAttack`]) that apply
/// to `field`.
fn scan(t: &Text<'_>, field: u8, classes: u8, out: &mut Matches) {
    let d = dispatch();
    let s = t.s.as_bytes();
    for i in 0..s.len().saturating_sub(1) {
        let (w, bit) = pair(s[i], s[i + 1]);
        if d.pairs[w] & bit == 0 {
            continue;
        }
        let (lo, hi) = d.by_first[usize::from(s[i])];
        for l in &d.lits[usize::from(lo)..usize::from(hi)] {
            if l.fields & field == 0
                || classes & (1 << l.class as u8) == 0
                || !s[i..].starts_with(l.text.as_bytes())
            {
                continue;
            }
            let name = match l.edge {
                Edge::Word if !word_at(s, i, l.text.len()) => continue,
                Edge::Handler => match handler(s, i) {
                    Some(h) => h,
                    None => continue,
                },
                _ => l.text,
            };
            out.add(l.class, name, field);
        }
    }
}

/// The patterns that are not literals: SQL comparisons of constants and stacked queries (over
/// the SQL view), `<img … src=`, and repeated `../` (request targets only).
fn computed(norm: &Text<'_>, sql: &Text<'_>, field: u8, out: &mut Matches) {
    if sql.has(b'=') && (sql.contains("or") || sql.contains("and")) && tautology(sql.s.as_bytes()) {
        out.add(WebAttack::SqlInjection, SQLI_TAUTOLOGY, field);
    }
    if sql.has(b';') && stacked(sql.s) {
        out.add(WebAttack::SqlInjection, SQLI_STACKED, field);
    }
    if norm.has(b'<') && norm.has(b'=') {
        if let Some(i) = norm.s.find("<img") {
            if norm.s[i..].contains("src=") || norm.s[i..].contains("src =") {
                out.add(WebAttack::Xss, XSS_IMG_SRC, field);
            }
        }
    }
    if field == IN_URI && norm.contains("..") {
        let b = norm.s.as_bytes();
        let ups = norm
            .s
            .match_indices("..")
            .filter(|(i, _)| {
                let rest = &b[i + 2..];
                rest.starts_with(b"/") || rest.starts_with(b"\\") || rest.starts_with(b";/")
            })
            .count();
        if ups >= 2 {
            out.add(WebAttack::PathTraversal, TRAVERSAL_DOTDOT, IN_URI);
        }
    }
}

/// An operand of a comparison at `i`: a quoted string (to its closing quote; an unclosed one,
/// as the injected quote leaves it, to the end of its word) or a run of word characters and
/// dots; returns it, whether it was quoted, and the index after it.
fn operand(s: &[u8], mut i: usize) -> Option<(&[u8], bool, usize)> {
    while i < s.len() && (s[i] == b' ' || s[i] == b'(') {
        i += 1;
    }
    let q = *s.get(i)?;
    if q == b'\'' || q == b'"' || q == b'`' {
        let body = i + 1;
        let end = match s[body..].iter().position(|&c| c == q) {
            Some(p) => body + p,
            None => s[body..]
                .iter()
                .position(|&c| !is_word(c))
                .map_or(s.len(), |p| body + p),
        };
        return Some((&s[body..end], true, (end + 1).min(s.len())));
    }
    let end = s[i..]
        .iter()
        .position(|&c| !(is_word(c) || c == b'.'))
        .map_or(s.len(), |p| i + p);
    (end > i).then(|| (&s[i..end], false, end))
}

/// `or` / `and` (after a quote, space or parenthesis) comparing an operand with itself, or two
/// numbers: `' or 1=1`, `' or 'a'='a`, `" or ""="`, `and 1234=1234`, `and 1=0`.
fn tautology(s: &[u8]) -> bool {
    for kw in [&b"or"[..], b"and"] {
        let mut from = 0;
        while let Some(p) = s[from..].windows(kw.len()).position(|w| w == kw) {
            let i = from + p;
            from = i + 1;
            let before = if i == 0 { None } else { s.get(i - 1) };
            if !matches!(before, Some(b' ' | b'\'' | b'"' | b')' | b'`')) {
                continue;
            }
            let after = i + kw.len();
            if !matches!(s.get(after), Some(b' ' | b'\'' | b'"' | b'(' | b'`')) {
                continue;
            }
            let Some((a, qa, mut j)) = operand(s, after) else {
                continue;
            };
            while s.get(j) == Some(&b' ') {
                j += 1;
            }
            if s.get(j) != Some(&b'=') {
                continue;
            }
            if let Some((b, qb, _)) = operand(s, j + 1) {
                let number = |x: &[u8], quoted: bool| {
                    !quoted && !x.is_empty() && x.iter().all(u8::is_ascii_digit)
                };
                if a == b || (number(a, qa) && number(b, qb)) {
                    return true;
                }
            }
        }
    }
    false
}

/// `;` then (after at most one space) a statement keyword standing as a word and followed by
/// a space, `(`, a comment or the end: `; drop table`, `;exec(`, `;shutdown--`.
fn stacked(s: &str) -> bool {
    let b = s.as_bytes();
    for (i, _) in s.match_indices(';') {
        let mut j = i + 1;
        if b.get(j) == Some(&b' ') {
            j += 1;
        }
        for kw in STACKED_KEYWORDS {
            if b[j..].starts_with(kw.as_bytes()) {
                let next = b.get(j + kw.len());
                if matches!(next, None | Some(b' ' | b'(' | b'-' | b'#' | b';' | b'/')) {
                    return true;
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqli_of(uri: &str) -> Vec<&'static str> {
        inspect(Some(uri), None)
            .of(WebAttack::SqlInjection)
            .to_vec()
    }

    fn xss_of(uri: &str) -> Vec<&'static str> {
        inspect(Some(uri), None).of(WebAttack::Xss).to_vec()
    }

    fn traversal_of(uri: &str) -> Vec<&'static str> {
        inspect(Some(uri), None)
            .of(WebAttack::PathTraversal)
            .to_vec()
    }

    // Pattern names come sorted per class.

    #[test]
    fn the_ndpi_dvwa_sql_injection_request_is_union_select_and_a_comment() {
        // ndpi/pcap/sql_injection.pcap, 192.168.3.109 → 192.168.3.107:80 (tshark).
        let uri = "/DVWA-master/vulnerabilities/sqli/?id=%3Fid%3Da%27+UNION+SELECT+%22text1%22\
                   %2C%22text2%22%3B--+-%26Submit%3DSubmit&Submit=Submit";
        assert_eq!(sqli_of(uri), [";--", "union select"]);
        assert!(xss_of(uri).is_empty() && traversal_of(uri).is_empty());
    }

    #[test]
    fn the_ndpi_dvwa_xss_request_is_a_script_tag_and_alert() {
        // ndpi/pcap/xss.pcap (tshark).
        let uri =
            "/DVWA-master/vulnerabilities/xss_d/?default=English%3Cscript%3Ealert(1)%3C/script%3E";
        assert_eq!(xss_of(uri), ["</script", "<script", "alert("]);
        assert!(sqli_of(uri).is_empty());
    }

    #[test]
    fn sql_injection_strings_match_their_patterns() {
        let cases: [(&str, &[&str]); 18] = [
            ("/login?user=admin'--&pw=x", &["'--"]),
            ("/item?id=1'+or+1=1--", &[SQLI_TAUTOLOGY]),
            ("/item?id=x'%20OR%20'1'%3D'1", &["' or '", SQLI_TAUTOLOGY]),
            ("/p?id=1%20UNION%20ALL%20SELECT%20NULL,NULL", &["union all select"]),
            ("/p?id=-1/**/union/**/select/**/1,2", &["union select"]),
            ("/p?id=1%252f%252a*/UNION%2520SELECT", &["union select"]),
            ("/p?id=1+AND+SLEEP(5)", &["sleep("]),
            ("/p?id=1)+AND+1234=1234", &[SQLI_TAUTOLOGY]),
            ("/p?id=1;DROP+TABLE+users", &[SQLI_STACKED]),
            ("/p?id=1;waitfor+delay+'0:0:5'--", &["'--", "waitfor delay", SQLI_STACKED]),
            ("/p?q=BENCHMARK(5000000,MD5(1))", &["benchmark("]),
            (
                "/p?id=1+and+extractvalue(1,concat(0x7e,(select+table_name+from+information_schema.tables)))",
                &["information_schema", "extractvalue("],
            ),
            ("/p?cmd=';exec+master..xp_cmdshell+'dir'--", &["'--", "xp_cmdshell", SQLI_STACKED]),
            ("/p?u=%22+or+%22%22%3D%22", &[SQLI_TAUTOLOGY]),
            // zeek/Traces/http/cooper-grill-dvwa.pcapng.
            ("/dvwa/vulnerabilities/sqli/?id=1%27+OR+%271%27%3D%271&Submit=Submit", &["' or '", SQLI_TAUTOLOGY]),
            // EvilFingers Active_Business_Directory_v2_RemoteBlind_SQL_Injection.pcap.
            ("/demoactivebusinessdirectory/default.asp?catid=0+and+1=0", &[SQLI_TAUTOLOGY]),
            // EvilFingers joomla_sql_injection1.pcap: string concatenation.
            ("/index.php?searchword=&task=somechars%27+%2B+%27search&option=com_search", &["' + '"]),
            // EvilFingers Vacation_Estate_Listing_Blind_SQL.pcap.
            ("/properties_view.php?editid1=2%20and%20substring(@@version,1,1)=5", &["@@version"]),
        ];
        for (uri, want) in cases {
            let mut got = sqli_of(uri);
            got.sort_unstable();
            let mut want = want.to_vec();
            want.sort_unstable();
            assert_eq!(got, want, "{uri}");
        }
    }

    #[test]
    fn benign_requests_do_not_match() {
        let benign = [
            "/search?q=union+station",
            "/search?q=Union%20Square%20selection",
            "/a/b/../c",
            "/products/select/chairs?sort=price",
            "/docs/select-your-plan.html",
            "/search?q=black+and+white+or+colour",
            "/search?q=rock+%26+roll&page=2",
            "/news/2024/05/its-o'reilly-time",
            "/static/app.min.js?v=3.2.1",
            "/api/v1/users?online=true&onload=1&sort=-created",
            "/forum/thread;jsessionid=AB12CD?reply=1",
            "/wiki/Sleep_(disambiguation)",
            "/img/logo.svg",
            "/page?title=Order+by+date&from=2020-01-01--2020-12-31",
            "/search?q=%22quoted+phrase%22+and+%22another%22",
            "/blog/one-more-thing--really",
        ];
        for uri in benign {
            let m = inspect(Some(uri), Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64)"));
            assert!(m.is_empty(), "{uri}: {m:?}");
        }
    }

    #[test]
    fn xss_strings_match_their_patterns() {
        let cases: [(&str, &[&str]); 7] = [
            (
                "/?q=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
                &[XSS_IMG_SRC, "alert(", "onerror"],
            ),
            (
                "/?q=%3Csvg/onload=prompt(document.domain)%3E",
                &["<svg", "prompt(", "document.domain", "onload"],
            ),
            (
                "/?next=javascript:alert(document.cookie)",
                &["javascript:", "document.cookie", "alert("],
            ),
            ("/?q=%253Cscript%253E", &["<script"]),
            ("/?q=%22%20onmouseover%3D%22x", &["onmouseover"]),
            (
                "/?q=%3CIFRAME+SRC%3Ddata:text/html,x%3E",
                &["<iframe", "data:text/html"],
            ),
            (
                "/?q=String.fromCharCode(88,83,83)",
                &["string.fromcharcode"],
            ),
        ];
        for (uri, want) in cases {
            let mut got = xss_of(uri);
            got.sort_unstable();
            let mut want = want.to_vec();
            want.sort_unstable();
            assert_eq!(got, want, "{uri}");
        }
    }

    #[test]
    fn traversal_needs_two_dot_dots_or_a_system_file() {
        assert_eq!(traversal_of("/a/b/../c"), Vec::<&str>::new());
        assert_eq!(traversal_of("/a/../../c"), [TRAVERSAL_DOTDOT]);
        assert_eq!(
            traversal_of("/download?file=..%2F..%2F..%2Fetc%2Fpasswd"),
            [TRAVERSAL_DOTDOT, "/etc/passwd"]
        );
        assert_eq!(
            traversal_of("/%2e%2e%2f%2e%2e%2fwindows/win.ini"),
            [TRAVERSAL_DOTDOT, "win.ini"]
        );
        // Double-encoded, backslashes, overlong UTF-8 and Tomcat's `..;/`.
        assert_eq!(
            traversal_of("/x%252e%252e%252f%252e%252e%252fa"),
            [TRAVERSAL_DOTDOT]
        );
        assert_eq!(
            traversal_of("/..%5c..%5cboot.ini"),
            [TRAVERSAL_DOTDOT, "boot.ini"]
        );
        assert_eq!(traversal_of("/..%c0%af..%c0%afa"), [TRAVERSAL_DOTDOT]);
        assert_eq!(traversal_of("/app/..;/..;/manager"), [TRAVERSAL_DOTDOT]);
        assert_eq!(traversal_of("/page?f=/proc/self/environ"), ["/proc/self/"]);
    }

    #[test]
    fn scanners_are_known_by_their_user_agent_or_an_oast_domain() {
        let m = inspect(
            Some("/"),
            Some("Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"),
        );
        assert_eq!(m.of(WebAttack::Scanner), ["nmap scripting engine"]);
        assert_eq!(m.fields[WebAttack::Scanner.index()], IN_USER_AGENT);
        let m = inspect(None, Some("sqlmap/1.7.2#stable (https://sqlmap.org)"));
        assert_eq!(m.of(WebAttack::Scanner), ["sqlmap"]);
        let m = inspect(Some("/?u=http://x1y2.oastify.com/"), Some("Mozilla/5.0"));
        assert_eq!(m.of(WebAttack::Scanner), ["oastify.com"]);
        for ua in [
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/102.0.0.0 Safari/537.36",
            "curl/8.5.0",
            "python-requests/2.31.0",
            "Microsoft-CryptoAPI/10.0",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ] {
            assert!(inspect(None, Some(ua)).is_empty(), "{ua}");
        }
    }

    #[test]
    fn a_benign_agent_is_matched_once_and_remembered() {
        let mut m = Matcher::default();
        let mut hits = Matches::default();
        let ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)";
        m.request(Some("/a"), Some(ua), &mut hits);
        assert!(hits.is_empty());
        assert_eq!(m.benign_agents.iter().filter(|&&h| h != 0).count(), 1);
        // The next request with it skips the agent, not the target.
        m.request(Some("/p?id=1+union+select+1"), Some(ua), &mut hits);
        assert_eq!(hits.of(WebAttack::SqlInjection), ["union select"]);
        assert_eq!(hits.fields[WebAttack::SqlInjection.index()], IN_URI);
        // A scanner's agent is never remembered as benign.
        m.request(None, Some("sqlmap/1.7"), &mut hits);
        m.request(None, Some("sqlmap/1.7"), &mut hits);
        assert_eq!(hits.of(WebAttack::Scanner), ["sqlmap"]);
        assert_eq!(m.benign_agents.iter().filter(|&&h| h != 0).count(), 1);
    }

    #[test]
    fn an_injection_in_the_user_agent_counts_there() {
        let m = inspect(Some("/"), Some("Mozilla/5.0' AND SLEEP(5)-- x"));
        assert_eq!(m.of(WebAttack::SqlInjection), ["sleep("]);
        assert_eq!(m.fields[WebAttack::SqlInjection.index()], IN_USER_AGENT);
    }
}
