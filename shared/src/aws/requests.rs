//! A record of the requests an SDK client sends: how the bench and the tests count what an
//! endpoint costs, through the real SDK against the emulator. No function installs it.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// One request as sent: its operation (`GetItem`) and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub operation: String,
    pub body: String,
}

/// An interceptor that keeps every request sent while recording (every attempt, retries
/// included). Clones share one record: install one on a client, read it through another.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    recording: Arc<AtomicBool>,
    sent: Arc<Mutex<Vec<Sent>>>,
}

impl RequestLog {
    /// Starts recording, forgetting what was recorded before.
    pub fn start(&self) {
        self.take();
        self.recording.store(true, Ordering::SeqCst);
    }

    /// The requests recorded since [`RequestLog::start`] or the last `take`; recording goes on.
    pub fn take(&self) -> Vec<Sent> {
        std::mem::take(&mut *self.sent.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Stops recording; what [`RequestLog::take`] would answer.
    pub fn stop(&self) -> Vec<Sent> {
        self.recording.store(false, Ordering::SeqCst);
        self.take()
    }

    /// `sent` counted by operation.
    pub fn by_operation(sent: &[Sent]) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for request in sent {
            *counts.entry(request.operation.clone()).or_default() += 1;
        }
        counts
    }
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "HubRequestLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.recording.load(Ordering::SeqCst) {
            let operation = cfg.load::<Metadata>().map_or("?", |m| m.name()).to_string();
            let body = String::from_utf8_lossy(context.request().body().bytes().unwrap_or_default()).into_owned();
            self.sent.lock().unwrap_or_else(PoisonError::into_inner).push(Sent { operation, body });
        }
        Ok(())
    }
}
