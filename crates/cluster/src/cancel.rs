//! A minimal cancellation token (a watch channel) so workers stop on shutdown.

use tokio::sync::watch;

/// Cloneable stop signal.
#[derive(Clone, Debug)]
pub struct CancelToken(watch::Receiver<bool>);

/// The sending side.
#[derive(Debug)]
pub struct CancelSource(watch::Sender<bool>);

/// A new source/token pair.
pub fn cancel_pair() -> (CancelSource, CancelToken) {
    let (tx, rx) = watch::channel(false);
    (CancelSource(tx), CancelToken(rx))
}

impl CancelSource {
    /// Signal every token.
    pub fn cancel(&self) {
        let _ = self.0.send(true);
    }
}

impl CancelToken {
    /// Resolves once cancelled.
    pub async fn cancelled(&mut self) {
        while !*self.0.borrow() {
            if self.0.changed().await.is_err() {
                return;
            }
        }
    }
}
