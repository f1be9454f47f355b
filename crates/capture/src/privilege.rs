//! Whether this process may capture, said before anything is opened, and dropping root once
//! the capture sockets are open.

use std::ffi::CString;

use crate::error::CaptureError;

/// `CAP_NET_ADMIN` (linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;
/// `CAP_NET_RAW`.
const CAP_NET_RAW: u32 = 13;

/// What this process holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Privileges {
    /// Effective user id 0.
    pub root: bool,
    /// `CAP_NET_RAW` is effective: packet sockets can be opened (root holds it unless it was
    /// taken away, e.g. in a container).
    pub net_raw: bool,
    /// `CAP_NET_ADMIN` is effective: socket buffers beyond `net.core.rmem_max`.
    pub net_admin: bool,
}

impl Privileges {
    /// This process's, from `/proc/self/status` (`CapEff`) and the effective user id.
    pub fn current() -> Privileges {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let eff = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("CapEff:"))
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            });
        // Without /proc (not Linux), root is taken to hold every capability.
        let has = |cap: u32| eff.map_or(root, |e| e & (1u64 << cap) != 0);
        Privileges {
            root,
            net_raw: has(CAP_NET_RAW),
            net_admin: has(CAP_NET_ADMIN),
        }
    }

    /// Whether packets can be captured at all.
    pub fn may_capture(&self) -> bool {
        self.net_raw
    }

    /// `Ok` when capture can start; otherwise what is missing and how to grant it.
    pub fn check(&self) -> Result<(), CaptureError> {
        if self.may_capture() {
            return Ok(());
        }
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "netvigil".into());
        Err(CaptureError::Privilege(format!(
            "capturing packets needs root or the CAP_NET_RAW capability (and CAP_NET_ADMIN for \
             large capture buffers); this process has neither.\n\
             Grant them to the binary once:\n    \
             sudo setcap cap_net_raw,cap_net_admin=eip {exe}\n\
             or run it as a service with AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN \
             (contrib/netvigil-capture.service, docs/capture.md), or as root with --user NAME \
             to drop root once the interfaces are open."
        )))
    }
}

/// Becomes `user` (its uid, primary gid and no supplementary groups) for good. Call after the
/// capture sockets are open: they stay usable.
pub fn drop_to(user: &str) -> Result<(), CaptureError> {
    let fail = |m: String| CaptureError::Privilege(format!("--user {user}: {m}"));
    let name = CString::new(user).map_err(|_| fail("contains a NUL byte".into()))?;
    // SAFETY: getpwnam reads a NUL-terminated name and returns a pointer into static storage
    // (or null), read at once before any other passwd call.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(fail("no such user".into()));
    }
    // SAFETY: pw is non-null and points to a valid passwd record (see above).
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    // SAFETY: plain system calls with valid arguments; their results are checked.
    unsafe {
        if libc::getuid() != 0 && libc::geteuid() != 0 {
            return Err(fail("only root can change user".into()));
        }
        if libc::setgroups(1, &gid) != 0 {
            return Err(fail(format!(
                "setgroups: {}",
                std::io::Error::last_os_error()
            )));
        }
        if libc::setgid(gid) != 0 {
            return Err(fail(format!("setgid: {}", std::io::Error::last_os_error())));
        }
        if libc::setuid(uid) != 0 {
            return Err(fail(format!("setuid: {}", std::io::Error::last_os_error())));
        }
        // Root must not be recoverable.
        if uid != 0 && libc::setuid(0) == 0 {
            return Err(fail("root could be regained after the switch".into()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_says_which_capability_and_how_to_grant_it() {
        let none = Privileges {
            root: false,
            net_raw: false,
            net_admin: false,
        };
        let msg = none
            .check()
            .map_err(|e| e.to_string())
            .err()
            .unwrap_or_default();
        assert!(msg.contains("CAP_NET_RAW"), "{msg}");
        assert!(
            msg.contains("setcap cap_net_raw,cap_net_admin=eip"),
            "{msg}"
        );
        assert!(msg.contains("AmbientCapabilities"), "{msg}");
        let raw_only = Privileges {
            net_raw: true,
            ..none
        };
        assert!(raw_only.check().is_ok());
    }
}
