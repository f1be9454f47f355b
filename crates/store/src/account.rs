//! The API server's accounts and audit log, the same SQL on both backends: users with a role,
//! API tokens and login sessions (each stored as the SHA-256 of its secret; the secret is
//! never stored), and the append-only audit log. Every change made here is audited in the
//! transaction that makes it, so the log and the accounts cannot disagree.
//!
//! The backends provide one thing, [`Transact`]: a write transaction that runs statements.
//! Everything else is this module's, behind the [`Accounts`] role.

use std::borrow::Cow;
use std::fmt::Write;

use serde::Serialize;
use serde_json::Value;

use crate::model::TimeRange;
use crate::query::Sql;
use crate::roles::Database;
use crate::schema::{DbType, DbValue};
use crate::{now_us, Result, StoreError};

/// Rows of a statement, each value read as the type given for its column (none for a
/// statement that returns no rows).
pub(crate) type Rows = Vec<Vec<DbValue<'static>>>;

/// Runs one statement of a transaction.
pub(crate) type Run<'a> = dyn FnMut(&Sql, &[DbType]) -> Result<Rows> + 'a;

/// A backend's write transaction: `op` runs its statements through the [`Run`] it is given;
/// the transaction commits when `op` returns `Ok` and rolls back otherwise.
pub(crate) trait Transact: Database {
    /// Runs `op` in one transaction; `context` names what it does in errors.
    fn transact<T>(
        &mut self,
        context: &str,
        op: impl FnOnce(&mut Run<'_>) -> Result<T>,
    ) -> Result<T>;

    /// Runs `op`, which only reads, in one transaction that does not wait for writers
    /// (SQLite: deferred, so a token check never queues behind an ingest's batch).
    fn read<T>(&mut self, context: &str, op: impl FnOnce(&mut Run<'_>) -> Result<T>) -> Result<T> {
        self.transact(context, op)
    }
}

/// What a user may do. Ordered: each role may do what the ones before it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Also works alerts and incidents (acknowledge, verdicts, comments).
    Analyst,
    /// Also manages users, tokens, suppressions and notifications.
    Admin,
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Analyst, Role::Admin];

    /// Its name (`viewer`, `analyst`, `admin`), as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }

    /// The role a name names.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user, as listed (never with the password hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// Login name.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// Whether they can log in with a password (else with tokens only).
    pub has_password: bool,
    /// When the account was made, UTC µs.
    pub created_at: i64,
}

/// Who a request is made by: the user its token or session belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Principal {
    /// User id.
    pub id: i64,
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
}

/// An API token, as listed (never with its secret or hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    /// Row id.
    pub id: i64,
    /// Its user.
    pub user: String,
    /// What it is for.
    pub name: String,
    /// The secret's first characters, to tell tokens apart.
    pub prefix: String,
    /// When it was made, UTC µs.
    pub created_at: i64,
    /// When it was last used (to the minute), UTC µs.
    pub last_used: Option<i64>,
    /// When it stops working, UTC µs (never when `None`).
    pub expires_at: Option<i64>,
}

/// A change to record in the audit log.
#[derive(Clone, Debug, PartialEq)]
pub struct Change<'a> {
    /// Who made it (a user name; `netvigil` for the system itself).
    pub actor: &'a str,
    /// What was done (`user.add`, `episode.acknowledge`, …).
    pub action: &'a str,
    /// What it was done to (`user:alice`, `episode:42`, …).
    pub target: String,
    /// The thing before (`None`: it did not exist).
    pub before: Option<Value>,
    /// The thing after (`None`: it no longer exists).
    pub after: Option<Value>,
}

/// An entry of the audit log.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Row id (increasing).
    pub id: i64,
    /// When, UTC µs.
    pub at: i64,
    /// Who.
    pub actor: String,
    /// What was done.
    pub action: String,
    /// To what.
    pub target: String,
    /// What the store's own entries (ingests, retention) say in words.
    pub detail: String,
    /// Before.
    pub before: Option<Value>,
    /// After.
    pub after: Option<Value>,
}

/// Which audit entries a listing returns (newest first).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Made in this range.
    pub time: Option<TimeRange>,
    /// By this user.
    pub actor: Option<String>,
    /// This action.
    pub action: Option<String>,
    /// On this target.
    pub target: Option<String>,
    /// Older than this entry (keyset pagination).
    pub before_id: Option<i64>,
}

/// How often a token's `last_used` is written: at most once a minute, so reading the API
/// with a token is not a write per request.
const LAST_USED_EVERY_US: i64 = 60_000_000;

/// The server's accounts and the audit log (see the module's documentation).
pub trait Accounts: Database {
    /// How many users there are.
    fn user_count(&mut self) -> Result<u64>;
    /// Makes a user; refused ([`StoreError::Conflict`]) when the name is taken.
    fn add_user(
        &mut self,
        actor: &str,
        name: &str,
        role: Role,
        password_hash: Option<&str>,
    ) -> Result<User>;
    /// Every user, by name.
    fn users(&mut self) -> Result<Vec<User>>;
    /// A user and their password hash (`None`: token-only), by name.
    fn user_login(&mut self, name: &str) -> Result<Option<(Principal, Option<String>)>>;
    /// Replaces a user's password hash (`None`: token-only from now on); ends their sessions.
    fn set_password(&mut self, actor: &str, name: &str, password_hash: Option<&str>) -> Result<()>;
    /// Changes a user's role; ends their sessions.
    fn set_role(&mut self, actor: &str, name: &str, role: Role) -> Result<User>;
    /// Removes a user with their tokens and sessions.
    fn remove_user(&mut self, actor: &str, name: &str) -> Result<()>;
    /// Stores a new token of `user` (its secret's hash and first characters).
    fn add_token(
        &mut self,
        actor: &str,
        user: &str,
        name: &str,
        hash: &str,
        prefix: &str,
        expires_at: Option<i64>,
    ) -> Result<ApiToken>;
    /// Tokens, of one user or all, newest first.
    fn tokens(&mut self, user: Option<&str>) -> Result<Vec<ApiToken>>;
    /// Revokes a token.
    fn revoke_token(&mut self, actor: &str, id: i64) -> Result<()>;
    /// Who the token with this hash belongs to, if it exists and has not expired at `now`;
    /// notes its use.
    fn token_principal(&mut self, hash: &str, now: i64) -> Result<Option<Principal>>;
    /// Starts a login session (its secret's hash, its CSRF token, until `expires_at`).
    fn add_session(&mut self, user: i64, hash: &str, csrf: &str, expires_at: i64) -> Result<()>;
    /// Who the live session with this hash belongs to, with its CSRF token.
    fn session_principal(&mut self, hash: &str, now: i64) -> Result<Option<(Principal, String)>>;
    /// Ends a session (and every expired one).
    fn end_session(&mut self, hash: &str, now: i64) -> Result<()>;
    /// Appends a change to the audit log; returns its id.
    fn audit(&mut self, change: &Change<'_>) -> Result<i64>;
    /// Audit entries matching `filter`, newest first.
    fn audit_log(&mut self, filter: &AuditFilter, limit: usize) -> Result<Vec<AuditEntry>>;
}

pub(crate) fn sql(text: impl Into<String>, params: Vec<DbValue<'static>>) -> Sql {
    Sql {
        text: text.into(),
        params,
    }
}

pub(crate) fn text(s: &str) -> DbValue<'static> {
    DbValue::Text(Cow::Owned(s.to_string()))
}

pub(crate) fn opt_text(s: Option<&str>) -> DbValue<'static> {
    s.map_or(DbValue::Null, text)
}

pub(crate) fn int_at(row: &[DbValue<'_>], i: usize) -> Option<i64> {
    match row.get(i) {
        Some(DbValue::Int(v) | DbValue::Time(v)) => Some(*v),
        _ => None,
    }
}

pub(crate) fn text_at(row: &[DbValue<'_>], i: usize) -> Option<String> {
    match row.get(i) {
        Some(DbValue::Text(t)) => Some(t.to_string()),
        _ => None,
    }
}

/// A row that does not read back as written.
fn bad_row(target: &str, what: &str) -> StoreError {
    crate::query_err(
        target,
        "reading accounts",
        format!("a stored {what} does not read back"),
    )
}

const USER_COLUMNS: &str = "id, name, role, password_hash, created_at";
const USER_TYPES: [DbType; 5] = [
    DbType::Int,
    DbType::Text,
    DbType::Text,
    DbType::Text,
    DbType::Time,
];

fn user_of(target: &str, row: &[DbValue<'_>]) -> Result<(User, Option<String>)> {
    let role = text_at(row, 2).as_deref().and_then(Role::parse);
    match (int_at(row, 0), text_at(row, 1), role, int_at(row, 4)) {
        (Some(id), Some(name), Some(role), Some(created_at)) => {
            let hash = text_at(row, 3);
            Ok((
                User {
                    id,
                    name,
                    role,
                    has_password: hash.is_some(),
                    created_at,
                },
                hash,
            ))
        }
        _ => Err(bad_row(target, "user")),
    }
}

fn find_user(
    target: &str,
    run: &mut Run<'_>,
    name: &str,
) -> Result<Option<(User, Option<String>)>> {
    let rows = run(
        &sql(
            format!("SELECT {USER_COLUMNS} FROM users WHERE name = $1"),
            vec![text(name)],
        ),
        &USER_TYPES,
    )?;
    rows.first().map(|r| user_of(target, r)).transpose()
}

fn need_user(target: &str, run: &mut Run<'_>, name: &str) -> Result<User> {
    find_user(target, run, name)?
        .map(|(u, _)| u)
        .ok_or_else(|| StoreError::NotFound(format!("no user named {name:?}")))
}

pub(crate) fn json_of<T: Serialize>(v: &T) -> Option<Value> {
    serde_json::to_value(v).ok()
}

/// Appends `change` to the audit log inside the caller's transaction.
pub(crate) fn append(run: &mut Run<'_>, change: &Change<'_>) -> Result<i64> {
    let json = |v: &Option<Value>| match v {
        Some(v) => DbValue::Text(Cow::Owned(v.to_string())),
        None => DbValue::Null,
    };
    inserted_id(
        run,
        &sql(
            "INSERT INTO audit_log (logged_at, actor, action, object, detail, before_json, \
             after_json) VALUES ($1, $2, $3, $4, '', $5, $6) RETURNING id",
            vec![
                DbValue::Time(now_us()),
                text(change.actor),
                text(change.action),
                text(&change.target),
                json(&change.before),
                json(&change.after),
            ],
        ),
        "writing the audit log",
    )
}

/// Runs an `INSERT … RETURNING id`; the new row's id.
pub(crate) fn inserted_id(run: &mut Run<'_>, insert: &Sql, context: &str) -> Result<i64> {
    run(insert, &[DbType::Int])?
        .first()
        .and_then(|r| int_at(r, 0))
        .ok_or_else(|| crate::query_err("", context, "the insert returned no id"))
}

/// Appends what `actor` did (`action` on `target`, the thing before and after) to the audit
/// log inside the caller's transaction.
pub(crate) fn record(
    run: &mut Run<'_>,
    actor: &str,
    action: &str,
    target: String,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<i64> {
    append(
        run,
        &Change {
            actor,
            action,
            target,
            before,
            after,
        },
    )
}

fn end_user_sessions(run: &mut Run<'_>, user: i64) -> Result<()> {
    run(
        &sql(
            "DELETE FROM sessions WHERE user_id = $1",
            vec![DbValue::Int(user)],
        ),
        &[],
    )?;
    Ok(())
}

const TOKEN_COLUMNS: &str =
    "t.id, u.name, t.name, t.prefix, t.created_at, t.last_used, t.expires_at";
const TOKEN_TYPES: [DbType; 7] = [
    DbType::Int,
    DbType::Text,
    DbType::Text,
    DbType::Text,
    DbType::Time,
    DbType::Time,
    DbType::Time,
];

fn token_of(target: &str, row: &[DbValue<'_>]) -> Result<ApiToken> {
    match (
        int_at(row, 0),
        text_at(row, 1),
        text_at(row, 2),
        text_at(row, 3),
        int_at(row, 4),
    ) {
        (Some(id), Some(user), Some(name), Some(prefix), Some(created_at)) => Ok(ApiToken {
            id,
            user,
            name,
            prefix,
            created_at,
            last_used: int_at(row, 5),
            expires_at: int_at(row, 6),
        }),
        _ => Err(bad_row(target, "token")),
    }
}

fn principal_of(target: &str, row: &[DbValue<'_>]) -> Result<Principal> {
    let role = text_at(row, 2).as_deref().and_then(Role::parse);
    match (int_at(row, 0), text_at(row, 1), role) {
        (Some(id), Some(name), Some(role)) => Ok(Principal { id, name, role }),
        _ => Err(bad_row(target, "user")),
    }
}

const AUDIT_TYPES: [DbType; 8] = [
    DbType::Int,
    DbType::Time,
    DbType::Text,
    DbType::Text,
    DbType::Text,
    DbType::Text,
    DbType::Text,
    DbType::Text,
];

fn audit_of(target: &str, row: &[DbValue<'_>]) -> Result<AuditEntry> {
    let json = |i| text_at(row, i).and_then(|t| serde_json::from_str(&t).ok());
    match (
        int_at(row, 0),
        int_at(row, 1),
        text_at(row, 2),
        text_at(row, 3),
        text_at(row, 4),
    ) {
        (Some(id), Some(at), Some(actor), Some(action), Some(target)) => Ok(AuditEntry {
            id,
            at,
            actor,
            action,
            target,
            detail: text_at(row, 5).unwrap_or_default(),
            before: json(6),
            after: json(7),
        }),
        _ => Err(bad_row(target, "audit entry")),
    }
}

impl<S: Transact> Accounts for S {
    fn user_count(&mut self) -> Result<u64> {
        self.read("counting users", |run| {
            let rows = run(&sql("SELECT COUNT(*) FROM users", vec![]), &[DbType::Int])?;
            Ok(rows.first().and_then(|r| int_at(r, 0)).unwrap_or(0).max(0) as u64)
        })
    }

    fn add_user(
        &mut self,
        actor: &str,
        name: &str,
        role: Role,
        password_hash: Option<&str>,
    ) -> Result<User> {
        let target = self.target().to_string();
        self.transact("adding a user", |run| {
            if find_user(&target, run, name)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "a user named {name:?} exists"
                )));
            }
            let rows = run(
                &sql(
                    format!(
                        "INSERT INTO users (name, role, password_hash, created_at) \
                         VALUES ($1, $2, $3, $4) RETURNING {USER_COLUMNS}"
                    ),
                    vec![
                        text(name),
                        text(role.as_str()),
                        opt_text(password_hash),
                        DbValue::Time(now_us()),
                    ],
                ),
                &USER_TYPES,
            )?;
            let (user, _) = user_of(&target, rows.first().map_or(&[][..], |r| &r[..]))?;
            record(
                run,
                actor,
                "user.add",
                format!("user:{name}"),
                None,
                json_of(&user),
            )?;
            Ok(user)
        })
    }

    fn users(&mut self) -> Result<Vec<User>> {
        let target = self.target().to_string();
        self.read("listing users", |run| {
            run(
                &sql(
                    format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"),
                    vec![],
                ),
                &USER_TYPES,
            )?
            .iter()
            .map(|r| user_of(&target, r).map(|(u, _)| u))
            .collect()
        })
    }

    fn user_login(&mut self, name: &str) -> Result<Option<(Principal, Option<String>)>> {
        let target = self.target().to_string();
        self.read("reading a user", |run| {
            Ok(find_user(&target, run, name)?.map(|(u, hash)| {
                (
                    Principal {
                        id: u.id,
                        name: u.name,
                        role: u.role,
                    },
                    hash,
                )
            }))
        })
    }

    fn set_password(&mut self, actor: &str, name: &str, password_hash: Option<&str>) -> Result<()> {
        let target = self.target().to_string();
        self.transact("setting a password", |run| {
            let before = need_user(&target, run, name)?;
            run(
                &sql(
                    "UPDATE users SET password_hash = $1 WHERE id = $2",
                    vec![opt_text(password_hash), DbValue::Int(before.id)],
                ),
                &[],
            )?;
            end_user_sessions(run, before.id)?;
            let after = User {
                has_password: password_hash.is_some(),
                ..before.clone()
            };
            record(
                run,
                actor,
                "user.password",
                format!("user:{name}"),
                json_of(&before),
                json_of(&after),
            )?;
            Ok(())
        })
    }

    fn set_role(&mut self, actor: &str, name: &str, role: Role) -> Result<User> {
        let target = self.target().to_string();
        self.transact("setting a role", |run| {
            let before = need_user(&target, run, name)?;
            run(
                &sql(
                    "UPDATE users SET role = $1 WHERE id = $2",
                    vec![text(role.as_str()), DbValue::Int(before.id)],
                ),
                &[],
            )?;
            end_user_sessions(run, before.id)?;
            let after = User {
                role,
                ..before.clone()
            };
            record(
                run,
                actor,
                "user.role",
                format!("user:{name}"),
                json_of(&before),
                json_of(&after),
            )?;
            Ok(after)
        })
    }

    fn remove_user(&mut self, actor: &str, name: &str) -> Result<()> {
        let target = self.target().to_string();
        self.transact("removing a user", |run| {
            let before = need_user(&target, run, name)?;
            let id = vec![DbValue::Int(before.id)];
            for table in [
                "api_tokens WHERE user_id",
                "sessions WHERE user_id",
                "users WHERE id",
            ] {
                run(&sql(format!("DELETE FROM {table} = $1"), id.clone()), &[])?;
            }
            record(
                run,
                actor,
                "user.remove",
                format!("user:{name}"),
                json_of(&before),
                None,
            )?;
            Ok(())
        })
    }

    fn add_token(
        &mut self,
        actor: &str,
        user: &str,
        name: &str,
        hash: &str,
        prefix: &str,
        expires_at: Option<i64>,
    ) -> Result<ApiToken> {
        let target = self.target().to_string();
        self.transact("adding a token", |run| {
            let owner = need_user(&target, run, user)?;
            let id = inserted_id(
                run,
                &sql(
                    "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at, \
                     expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    vec![
                        DbValue::Int(owner.id),
                        text(name),
                        text(hash),
                        text(prefix),
                        DbValue::Time(now_us()),
                        expires_at.map_or(DbValue::Null, DbValue::Time),
                    ],
                ),
                "adding a token",
            )?;
            let token = token_by_id(&target, run, id)?.ok_or_else(|| bad_row(&target, "token"))?;
            record(
                run,
                actor,
                "token.add",
                format!("token:{id}"),
                None,
                json_of(&token),
            )?;
            Ok(token)
        })
    }

    fn tokens(&mut self, user: Option<&str>) -> Result<Vec<ApiToken>> {
        let target = self.target().to_string();
        self.read("listing tokens", |run| {
            let (cond, params) = match user {
                Some(u) => ("WHERE u.name = $1", vec![text(u)]),
                None => ("", vec![]),
            };
            run(
                &sql(
                    format!(
                        "SELECT {TOKEN_COLUMNS} FROM api_tokens t JOIN users u \
                         ON u.id = t.user_id {cond} ORDER BY t.id DESC"
                    ),
                    params,
                ),
                &TOKEN_TYPES,
            )?
            .iter()
            .map(|r| token_of(&target, r))
            .collect()
        })
    }

    fn revoke_token(&mut self, actor: &str, id: i64) -> Result<()> {
        let target = self.target().to_string();
        self.transact("revoking a token", |run| {
            let before = token_by_id(&target, run, id)?
                .ok_or_else(|| StoreError::NotFound(format!("no token {id}")))?;
            run(
                &sql(
                    "DELETE FROM api_tokens WHERE id = $1",
                    vec![DbValue::Int(id)],
                ),
                &[],
            )?;
            record(
                run,
                actor,
                "token.revoke",
                format!("token:{id}"),
                json_of(&before),
                None,
            )?;
            Ok(())
        })
    }

    fn token_principal(&mut self, hash: &str, now: i64) -> Result<Option<Principal>> {
        let target = self.target().to_string();
        let found = self.read("checking a token", |run| {
            let rows = run(
                &sql(
                    "SELECT u.id, u.name, u.role, t.id, t.last_used FROM api_tokens t \
                     JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 \
                     AND (t.expires_at IS NULL OR t.expires_at > $2)",
                    vec![text(hash), DbValue::Time(now)],
                ),
                &[
                    DbType::Int,
                    DbType::Text,
                    DbType::Text,
                    DbType::Int,
                    DbType::Time,
                ],
            )?;
            let Some(row) = rows.first() else {
                return Ok(None);
            };
            let principal = principal_of(&target, row)?;
            let stale = int_at(row, 4).is_none_or(|t| now - t >= LAST_USED_EVERY_US);
            Ok(Some((principal, int_at(row, 3).filter(|_| stale))))
        })?;
        let Some((principal, stale)) = found else {
            return Ok(None);
        };
        // At most once a minute per token: the one write of a token check.
        if let Some(id) = stale {
            self.transact("noting a token's use", |run| {
                run(
                    &sql(
                        "UPDATE api_tokens SET last_used = $1 WHERE id = $2",
                        vec![DbValue::Time(now), DbValue::Int(id)],
                    ),
                    &[],
                )?;
                Ok(())
            })?;
        }
        Ok(Some(principal))
    }

    fn add_session(&mut self, user: i64, hash: &str, csrf: &str, expires_at: i64) -> Result<()> {
        self.transact("starting a session", |run| {
            run(
                &sql(
                    "INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                    vec![
                        text(hash),
                        DbValue::Int(user),
                        text(csrf),
                        DbValue::Time(now_us()),
                        DbValue::Time(expires_at),
                    ],
                ),
                &[],
            )?;
            Ok(())
        })
    }

    fn session_principal(&mut self, hash: &str, now: i64) -> Result<Option<(Principal, String)>> {
        let target = self.target().to_string();
        self.read("checking a session", |run| {
            let rows = run(
                &sql(
                    "SELECT u.id, u.name, u.role, s.csrf FROM sessions s \
                     JOIN users u ON u.id = s.user_id \
                     WHERE s.token_hash = $1 AND s.expires_at > $2",
                    vec![text(hash), DbValue::Time(now)],
                ),
                &[DbType::Int, DbType::Text, DbType::Text, DbType::Text],
            )?;
            rows.first()
                .map(|r| {
                    let csrf = text_at(r, 3).ok_or_else(|| bad_row(&target, "session"))?;
                    Ok((principal_of(&target, r)?, csrf))
                })
                .transpose()
        })
    }

    fn end_session(&mut self, hash: &str, now: i64) -> Result<()> {
        self.transact("ending a session", |run| {
            run(
                &sql(
                    "DELETE FROM sessions WHERE token_hash = $1 OR expires_at <= $2",
                    vec![text(hash), DbValue::Time(now)],
                ),
                &[],
            )?;
            Ok(())
        })
    }

    fn audit(&mut self, change: &Change<'_>) -> Result<i64> {
        self.transact("writing the audit log", |run| append(run, change))
    }

    fn audit_log(&mut self, f: &AuditFilter, limit: usize) -> Result<Vec<AuditEntry>> {
        let target = self.target().to_string();
        let mut q = Sql::default();
        let mut w = String::from("TRUE");
        if let Some(t) = f.time {
            crate::query::time_range(&mut q, &mut w, "logged_at", t);
        }
        for (col, v) in [
            ("actor", &f.actor),
            ("action", &f.action),
            ("object", &f.target),
        ] {
            if let Some(v) = v {
                let p = q.param(text(v));
                let _ = write!(w, " AND {col} = {p}");
            }
        }
        if let Some(id) = f.before_id {
            let p = q.param(DbValue::Int(id));
            let _ = write!(w, " AND id < {p}");
        }
        let lim = q.param(crate::query::count(limit));
        q.text = format!(
            "SELECT id, logged_at, actor, action, object, detail, before_json, after_json \
             FROM audit_log \
             WHERE {w} ORDER BY id DESC LIMIT {lim}"
        );
        self.read("reading the audit log", |run| {
            run(&q, &AUDIT_TYPES)?
                .iter()
                .map(|r| audit_of(&target, r))
                .collect()
        })
    }
}

fn token_by_id(target: &str, run: &mut Run<'_>, id: i64) -> Result<Option<ApiToken>> {
    let rows = run(
        &sql(
            format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id \
                 WHERE t.id = $1"
            ),
            vec![DbValue::Int(id)],
        ),
        &TOKEN_TYPES,
    )?;
    rows.first().map(|r| token_of(target, r)).transpose()
}
