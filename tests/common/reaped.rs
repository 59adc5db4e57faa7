//! A child process that is killed and reaped when dropped, so a test that
//! fails halfway leaves no server or dealer running.

use std::process::Child;

/// Owns a child process until [`into_inner`](Reaped::into_inner).
pub struct Reaped(Option<Child>);

impl Reaped {
    /// Take charge of `child`.
    pub fn new(child: Child) -> Reaped {
        Reaped(Some(child))
    }

    /// The process.
    pub fn get(&mut self) -> &mut Child {
        self.0.as_mut().expect("the child was handed back already")
    }

    /// Hand the process back (the caller waits for it).
    pub fn into_inner(mut self) -> Child {
        self.0.take().expect("the child was handed back already")
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
