//! Single-flight opens: when several threads miss on one path at once, one of them (the leader)
//! opens and maps it and the others wait for its result, instead of each mapping the file.
//!
//! The table of flights lives in the cache's state, under the cache's lock, so that "is this
//! path cached?" and "is a thread opening it?" are answered in one critical section. Waiting
//! happens on the flight's own lock and condition variable, never under the cache's lock.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// One open in progress, and then its outcome.
#[derive(Debug)]
pub(super) struct Flight<T> {
    outcome: Mutex<Outcome<T>>,
    landed: Condvar,
}

#[derive(Debug)]
enum Outcome<T> {
    Pending,
    /// Opened: every waiter gets a clone.
    Opened(T),
    /// The open failed, or the leader panicked: waiters open for themselves. The error is not
    /// shared because [`crate::Error`] holds an `io::Error`, which is not `Clone`.
    Failed,
}

impl<T: Clone> Flight<T> {
    fn new() -> Self {
        Flight {
            outcome: Mutex::new(Outcome::Pending),
            landed: Condvar::new(),
        }
    }

    /// Publishes the outcome (`None`: failed) and wakes every waiter. Only the first landing
    /// counts, so a guard can land unconditionally after the leader did.
    fn land(&self, result: Option<T>) {
        {
            // Nothing panics while this lock is held, so a poisoned lock is still consistent.
            let mut outcome = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
            if matches!(*outcome, Outcome::Pending) {
                *outcome = match result {
                    Some(value) => Outcome::Opened(value),
                    None => Outcome::Failed,
                };
            }
        }
        self.landed.notify_all();
    }

    /// Blocks until the flight lands; `None` when the leader failed or gave up.
    pub(super) fn wait(&self) -> Option<T> {
        let outcome = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        let outcome = self
            .landed
            .wait_while(outcome, |o| matches!(o, Outcome::Pending))
            .unwrap_or_else(PoisonError::into_inner);
        match &*outcome {
            Outcome::Opened(value) => Some(value.clone()),
            Outcome::Pending | Outcome::Failed => None,
        }
    }
}

/// Whether the caller opens the file or waits for the thread that does.
#[derive(Debug)]
pub(super) enum Join<T> {
    /// No open of the path was in flight: the caller opens it and must land this flight
    /// (through a [`Lead`] guard).
    Lead(Arc<Flight<T>>),
    /// Another thread is opening the path: [`Flight::wait`] for it.
    Wait(Arc<Flight<T>>),
}

#[derive(Debug)]
struct Boarding<T> {
    flight: Arc<Flight<T>>,
    waiters: u64,
}

/// The opens in flight, by path. Kept under the cache's lock.
#[derive(Debug)]
pub(super) struct Flights<T> {
    open: HashMap<PathBuf, Boarding<T>>,
}

impl<T> Default for Flights<T> {
    fn default() -> Self {
        Flights {
            open: HashMap::new(),
        }
    }
}

impl<T: Clone> Flights<T> {
    /// The flight opening `path`, if any, with the caller counted among its waiters.
    pub(super) fn wait_on(&mut self, path: &Path) -> Option<Arc<Flight<T>>> {
        let boarding = self.open.get_mut(path)?;
        boarding.waiters += 1;
        Some(Arc::clone(&boarding.flight))
    }

    /// Waits on the flight opening `path`, or starts one led by the caller.
    pub(super) fn join(&mut self, path: &Path) -> Join<T> {
        if let Some(flight) = self.wait_on(path) {
            return Join::Wait(flight);
        }
        let flight = Arc::new(Flight::new());
        self.open.insert(
            path.to_path_buf(),
            Boarding {
                flight: Arc::clone(&flight),
                waiters: 0,
            },
        );
        Join::Lead(flight)
    }

    /// Takes `flight` out of the table, so the next lookup of `path` opens anew, and returns
    /// how many waiters joined it; `None` if the path's flight is another one (or none).
    ///
    /// Called before the flight lands with a value (or after it landed as failed), so the
    /// `Arc` dropped here never holds the last handle on a mapping: this runs under the
    /// cache's lock, where no mapping may be unmapped.
    pub(super) fn close(&mut self, path: &Path, flight: &Arc<Flight<T>>) -> Option<u64> {
        if !self
            .open
            .get(path)
            .is_some_and(|b| Arc::ptr_eq(&b.flight, flight))
        {
            return None;
        }
        self.open.remove(path).map(|b| b.waiters)
    }

    /// Opens in flight now.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.open.len()
    }
}

/// The leader's duty to land its flight. Dropped without [`Lead::land`] (the opener
/// panicked), it lands the flight as failed, so that no waiter hangs, and then runs `abandon`,
/// which takes the flight out of the table.
pub(super) struct Lead<T: Clone, F: FnOnce()> {
    flight: Arc<Flight<T>>,
    abandon: Option<F>,
}

impl<T: Clone, F: FnOnce()> Lead<T, F> {
    pub(super) fn new(flight: Arc<Flight<T>>, abandon: F) -> Self {
        Lead {
            flight,
            abandon: Some(abandon),
        }
    }

    /// Lands the flight with the leader's result (`None`: the open failed). The caller has
    /// already closed it in the table.
    pub(super) fn land(mut self, result: Option<T>) {
        self.abandon = None;
        self.flight.land(result);
    }
}

impl<T: Clone, F: FnOnce()> Drop for Lead<T, F> {
    fn drop(&mut self) {
        if let Some(abandon) = self.abandon.take() {
            self.flight.land(None);
            abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    #[test]
    fn the_first_joiner_leads_and_the_others_wait_for_its_value() {
        let mut flights = Flights::<Arc<str>>::default();
        let Join::Lead(flight) = flights.join(Path::new("a")) else {
            panic!("the first joiner must lead");
        };
        let waiters: Vec<_> = (0..3)
            .map(|_| match flights.join(Path::new("a")) {
                Join::Wait(f) => f,
                Join::Lead(_) => panic!("a second leader"),
            })
            .collect();
        // Another path has a flight of its own.
        assert!(matches!(flights.join(Path::new("b")), Join::Lead(_)));
        let value: Arc<str> = Arc::from("mapped");
        std::thread::scope(|s| {
            let handles: Vec<_> = waiters.iter().map(|f| s.spawn(|| f.wait())).collect();
            assert_eq!(flights.close(Path::new("a"), &flight), Some(3));
            Lead::new(Arc::clone(&flight), || {}).land(Some(Arc::clone(&value)));
            for h in handles {
                assert!(Arc::ptr_eq(&h.join().unwrap().unwrap(), &value));
            }
        });
        // Closed: the next joiner leads a new flight.
        assert!(matches!(flights.join(Path::new("a")), Join::Lead(_)));
        assert_eq!(
            flights.close(Path::new("a"), &flight),
            None,
            "not that flight"
        );
        assert_eq!(flights.len(), 2);
    }

    #[test]
    fn a_leader_that_panics_wakes_its_waiters_with_nothing() {
        let flights = Mutex::new(Flights::<u32>::default());
        let lock = || flights.lock().unwrap_or_else(PoisonError::into_inner);
        let Join::Lead(flight) = lock().join(Path::new("p")) else {
            panic!("the first joiner must lead");
        };
        let Some(waiting) = lock().wait_on(Path::new("p")) else {
            panic!("no flight to wait on");
        };
        let ready = Barrier::new(2);
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                ready.wait();
                waiting.wait()
            });
            let leader = s.spawn(|| {
                let _lead = Lead::new(Arc::clone(&flight), || {
                    lock().close(Path::new("p"), &flight);
                });
                ready.wait();
                panic!("the opener failed");
            });
            assert!(leader.join().is_err());
            assert_eq!(waiter.join().unwrap(), None);
        });
        assert_eq!(lock().len(), 0, "the abandoned flight left the table");
        // Landing again changes nothing.
        flight.land(Some(7));
        assert_eq!(flight.wait(), None);
    }
}
