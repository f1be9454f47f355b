//! What can go wrong opening or reading an interface. Every error names the interface.

/// A live-capture error.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// A filter expression libpcap does not accept (its own message).
    #[error("invalid filter '{expr}': {message}")]
    Filter {
        /// The expression as given.
        expr: String,
        /// libpcap's message.
        message: String,
    },
    /// A filter option out of range or malformed.
    #[error("invalid {option} '{value}': {reason}")]
    FilterOption {
        /// The option (`--host`, `--port`).
        option: &'static str,
        /// The value given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// The interface does not exist.
    #[error("{iface}: no such interface (netvigil interfaces lists them)")]
    NoSuchInterface {
        /// The interface.
        iface: String,
    },
    /// The process may not capture.
    #[error("{0}")]
    Privilege(String),
    /// Opening the interface failed.
    #[error("{iface}: cannot open for capture: {message}")]
    Open {
        /// The interface.
        iface: String,
        /// The reason (libpcap's or the system's).
        message: String,
    },
    /// Reading failed (the interface went down or away, …).
    #[error("{iface}: read error: {message}")]
    Read {
        /// The interface.
        iface: String,
        /// The reason.
        message: String,
    },
    /// The interface's link type cannot be decoded.
    #[error("{iface}: link type {link} is not one netvigil decodes")]
    LinkType {
        /// The interface.
        iface: String,
        /// The link type.
        link: packet::LinkType,
    },
}
