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
    free: Arc<Semaphore>,
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
            free: Arc::new(Semaphore::new(size.max(1))),
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
        let permit = tokio::time::timeout(WAIT, Arc::clone(&self.free).acquire_owned())
            .await
            .map_err(|_| ApiError::unavailable("every store connection is busy; try again"))?
            .map_err(|_| ApiError::unavailable("the server is stopping"))?;
        let pool = Arc::clone(self);
        // The permit goes with the call: a request dropped while it waits (its client went
        // away) must not free the permit of a connection still in use.
        tokio::task::spawn_blocking(move || {
            let out = pool.on_free_slot(f);
            drop(permit);
            out
        })
        .await
        .map_err(|e| ApiError::internal(format!("a store call failed: {e}")))?
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_whose_request_went_away_keeps_its_connection_until_it_ends() {
        let dir = std::env::temp_dir().join(format!("nv-pool-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let db = dir.join("nv.db").to_string_lossy().to_string();
        let first = store::open(&db).expect("a new store");
        let pool = StorePool::new(&db, first, 1);
        // A slow call whose request is dropped (its client went away) while it runs.
        let slow = pool.run(|s| {
            std::thread::sleep(Duration::from_millis(300));
            s.user_count()
        });
        assert!(tokio::time::timeout(Duration::from_millis(50), slow)
            .await
            .is_err());
        // The next call waits for the connection instead of finding none free.
        let users = pool.run(|s| s.user_count()).await;
        assert!(matches!(users, Ok(0)), "{:?}", users.err());
        drop(pool);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
