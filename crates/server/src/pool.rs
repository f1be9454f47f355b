//! The store connections the API shares: a fixed number, each used by one call at a time on a
//! blocking thread (the store's calls block), opened when first needed and opened again after
//! the database was lost under one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use store::Store;
use tokio::sync::Semaphore;

use crate::error::{ApiError, ApiResult};

/// How long a call waits for a free connection before it is refused (503).
const WAIT: Duration = Duration::from_secs(10);

/// A fixed set of store connections.
pub struct StorePool {
    db: String,
    slots: Vec<Mutex<Option<Box<dyn Store>>>>,
    free: Semaphore,
}

impl StorePool {
    /// A pool of `size` connections to `db`, starting with `first` (opened by the caller, which
    /// proved the store usable: the schema created or migrated); the others open when needed.
    pub fn new(db: &str, first: Box<dyn Store>, size: usize) -> Arc<Self> {
        let mut first = Some(first);
        let slots = (0..size.max(1))
            .map(|_| Mutex::new(first.take()))
            .collect::<Vec<_>>();
        Arc::new(StorePool {
            db: db.to_string(),
            slots,
            free: Semaphore::new(size.max(1)),
        })
    }

    /// Connections in use now.
    pub fn busy(&self) -> usize {
        self.slots
            .len()
            .saturating_sub(self.free.available_permits())
    }

    /// The database, as configured.
    pub fn db(&self) -> &str {
        &self.db
    }

    /// Runs `f` on a free connection, on a blocking thread.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Store) -> store::Result<T> + Send + 'static,
    {
        let permit = tokio::time::timeout(WAIT, self.free.acquire())
            .await
            .map_err(|_| ApiError::unavailable("every store connection is busy; try again"))?
            .map_err(|_| ApiError::unavailable("the server is stopping"))?;
        let pool = Arc::clone(self);
        let out = tokio::task::spawn_blocking(move || pool.on_free_slot(f))
            .await
            .map_err(|e| ApiError::internal(format!("a store call failed: {e}")))?;
        drop(permit);
        out
    }

    fn on_free_slot<T>(&self, f: impl FnOnce(&mut dyn Store) -> store::Result<T>) -> ApiResult<T> {
        // Holding a permit, at least one slot is free.
        for slot in &self.slots {
            let Ok(mut guard) = slot.try_lock() else {
                continue;
            };
            if guard.is_none() {
                *guard = Some(store::open(&self.db)?);
            }
            let Some(conn) = guard.as_mut() else {
                continue;
            };
            let out = f(conn.as_mut());
            if let Err(e) = &out {
                if e.connection_lost() {
                    // Opened again by the next call.
                    *guard = None;
                }
            }
            return out.map_err(ApiError::from);
        }
        Err(ApiError::unavailable("no free store connection"))
    }
}

impl Drop for StorePool {
    fn drop(&mut self) {
        let conns: Vec<Box<dyn Store>> = self
            .slots
            .iter_mut()
            .filter_map(|m| m.get_mut().ok().and_then(Option::take))
            .collect();
        if conns.is_empty() {
            return;
        }
        // The PostgreSQL client runs a runtime of its own, which may not be dropped on an async
        // thread (it aborts the process): the last handle to the pool often goes there.
        let _ = std::thread::spawn(move || drop(conns)).join();
    }
}
