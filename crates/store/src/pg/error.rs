//! PostgreSQL's failures as [`StoreError`]s: which of them mean the connection is gone, and
//! their messages on one line.

use std::error::Error as StdError;

use crate::StoreError;

/// Whether an error means the connection is gone (worth reconnecting and retrying): the client
/// saw it close, a socket error, or the server ended the session (admin shutdown, crash,
/// starting up, a connection exception).
pub fn is_connection_lost(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        return code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03");
    }
    let mut source = e.source();
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    e.to_string().starts_with("timeout waiting for server")
}

/// An error's message on one line: the server's message and SQLSTATE, or the client's error
/// and its causes.
pub(super) fn pg_message(e: &postgres::Error) -> String {
    let text = match e.as_db_error() {
        Some(db) => {
            let mut m = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(d) = db.detail() {
                m.push_str(": ");
                m.push_str(d);
            }
            m
        }
        None => {
            let mut m = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                m.push_str(": ");
                m.push_str(&s.to_string());
                source = s.source();
            }
            m
        }
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(super) fn pg_err(target: &str, context: &str, e: postgres::Error) -> StoreError {
    StoreError::Query {
        target: target.to_string(),
        context: context.to_string(),
        message: pg_message(&e),
        connection_lost: is_connection_lost(&e),
    }
}

/// Whether a statement failed as a deadlock's or a serialization conflict's victim (see
/// [`pg_message`] for where the SQLSTATE is).
pub(super) fn is_transient(e: &StoreError) -> bool {
    matches!(e, StoreError::Query { message, connection_lost: false, .. }
        if message.contains("(SQLSTATE 40P01)") || message.contains("(SQLSTATE 40001)"))
}

/// The error of an operation whose connection was lost and could not be made again: after
/// `tries` reconnections that failed for a lost connection too, or (`tries` 1) one the server
/// refused for another reason. Either way a lost connection, with why reconnecting failed.
pub(super) fn gave_up(lost: StoreError, reconnect: &StoreError, tries: u32) -> StoreError {
    match (lost, reconnect) {
        (
            StoreError::Query {
                target,
                context,
                message,
                ..
            },
            StoreError::Query { message: why, .. },
        ) => StoreError::Query {
            target,
            context,
            message: match tries {
                1 => format!("{message}; reconnecting failed: {why}"),
                n => format!("{message}; reconnecting failed {n} times: {why}"),
            },
            connection_lost: true,
        },
        (lost, _) => lost,
    }
}
