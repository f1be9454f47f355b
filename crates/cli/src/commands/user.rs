//! `netvigil user`: the API server's accounts, on the store directly (for the first admin, a
//! locked-out one, scripts): add, list, remove, passwd, role, token, tokens, revoke. Every
//! change is in the audit log, made by `cli:$USER`. A password is read from standard input
//! (`--password-stdin`) or made and printed once.

use std::io::Read;

use anyhow::Result;
use comfy_table::Table;
use store::Role;

use crate::console::format::utc_seconds;
use crate::{BadInput, Outcome};

/// Arguments of `netvigil user`.
#[derive(clap::Args, Debug, Clone)]
pub struct UserArgs {
    /// Database: a SQLite file or postgres://user@host:port/database.
    #[arg(long, global = true, default_value = crate::commands::lake::DEFAULT_DB)]
    pub db: String,
    /// What to do.
    #[command(subcommand)]
    pub action: UserAction,
}

/// What `netvigil user` does.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum UserAction {
    /// Add a user with a role (viewer, analyst, admin).
    Add {
        /// Login name.
        name: String,
        /// What they may do.
        #[arg(long, value_parser = ["viewer", "analyst", "admin"])]
        role: String,
        /// Read the password from standard input (else one is made and printed).
        #[arg(long)]
        password_stdin: bool,
        /// No password: the user works with API tokens only.
        #[arg(long, conflicts_with = "password_stdin")]
        no_password: bool,
    },
    /// List users.
    List {
        /// One per line as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a user with their tokens and sessions.
    Remove {
        /// Login name.
        name: String,
    },
    /// Set a user's password (ends their sessions).
    Passwd {
        /// Login name.
        name: String,
        /// Read the password from standard input (else one is made and printed).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's role (ends their sessions).
    Role {
        /// Login name.
        name: String,
        /// The new role.
        #[arg(value_parser = ["viewer", "analyst", "admin"])]
        role: String,
    },
    /// Make an API token for a user and print it (shown once; stored hashed).
    Token {
        /// Login name.
        name: String,
        /// What the token is for.
        #[arg(long, default_value = "cli")]
        label: String,
        /// Stop working after this many days (never by default).
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// List API tokens (of one user, or all).
    Tokens {
        /// Login name.
        name: Option<String>,
    },
    /// Revoke an API token by id.
    Revoke {
        /// The token's id (from `netvigil user tokens`).
        id: i64,
    },
}

/// Who the audit log names for a change made here.
fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

/// The password: from standard input (its first line), or made and printed.
fn password(from_stdin: bool) -> Result<(String, bool)> {
    if from_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        let p = s.lines().next().unwrap_or("").to_string();
        server::auth::check_password(&p).map_err(BadInput)?;
        Ok((p, false))
    } else {
        Ok((server::auth::new_secret("")?, true))
    }
}

fn role(s: &str) -> Result<Role> {
    Role::parse(s).ok_or_else(|| BadInput(format!("unknown role {s}")).into())
}

/// Runs `netvigil user`.
pub fn run(a: &UserArgs) -> Result<Outcome> {
    let mut s = store::open(&a.db).map_err(|e| BadInput(e.to_string()))?;
    let actor = actor();
    let bad = |e: store::StoreError| -> anyhow::Error {
        match e {
            store::StoreError::NotFound(_) | store::StoreError::Conflict(_) => {
                BadInput(e.to_string()).into()
            }
            e => e.into(),
        }
    };
    match &a.action {
        UserAction::Add {
            name,
            role: r,
            password_stdin,
            no_password,
        } => {
            server::routes::accounts::check_user_name(name).map_err(BadInput)?;
            let role = role(r)?;
            let made = if *no_password {
                None
            } else {
                Some(password(*password_stdin)?)
            };
            let hash = made
                .as_ref()
                .map(|(p, _)| server::auth::hash_password(p))
                .transpose()?;
            s.add_user(&actor, name, role, hash.as_deref())
                .map_err(bad)?;
            eprintln!("added {name} ({role})");
            if let Some((p, true)) = made {
                println!("{p}");
            }
        }
        UserAction::List { json } => {
            let users = s.users()?;
            if *json {
                for u in &users {
                    println!("{}", serde_json::to_string(u)?);
                }
            } else {
                let mut t = Table::new();
                t.set_header(["name", "role", "password", "created"]);
                for u in &users {
                    t.add_row([
                        u.name.clone(),
                        u.role.to_string(),
                        if u.has_password { "yes" } else { "no (tokens)" }.to_string(),
                        utc_seconds(u.created_at),
                    ]);
                }
                println!("{t}");
            }
        }
        UserAction::Remove { name } => {
            s.remove_user(&actor, name).map_err(bad)?;
            eprintln!("removed {name}");
        }
        UserAction::Passwd {
            name,
            password_stdin,
        } => {
            let (p, made) = password(*password_stdin)?;
            let hash = server::auth::hash_password(&p)?;
            s.set_password(&actor, name, Some(&hash)).map_err(bad)?;
            eprintln!("set the password of {name}; their sessions ended");
            if made {
                println!("{p}");
            }
        }
        UserAction::Role { name, role: r } => {
            let u = s.set_role(&actor, name, role(r)?).map_err(bad)?;
            eprintln!("{} is now {}; their sessions ended", u.name, u.role);
        }
        UserAction::Token {
            name,
            label,
            expires_days,
        } => {
            let expires =
                expires_days.map(|d| packet::Timestamp::now().0 + i64::from(d) * store::DAY_US);
            let issued =
                server::routes::accounts::issue_token(s.as_mut(), &actor, name, label, expires)
                    .map_err(bad)?;
            eprintln!(
                "token {} for {name} (shown once; use it as Authorization: Bearer <token>):",
                issued.token.id
            );
            println!("{}", issued.secret);
        }
        UserAction::Tokens { name } => {
            let mut t = Table::new();
            t.set_header([
                "id",
                "user",
                "label",
                "prefix",
                "created",
                "last used",
                "expires",
            ]);
            let when = |v: Option<i64>| v.map(utc_seconds).unwrap_or_else(|| "-".into());
            for k in s.tokens(name.as_deref())? {
                t.add_row([
                    k.id.to_string(),
                    k.user,
                    k.name,
                    format!("{}…", k.prefix),
                    utc_seconds(k.created_at),
                    when(k.last_used),
                    when(k.expires_at),
                ]);
            }
            println!("{t}");
        }
        UserAction::Revoke { id } => {
            s.revoke_token(&actor, *id).map_err(bad)?;
            eprintln!("revoked token {id}");
        }
    }
    Ok(Outcome::Clean)
}
