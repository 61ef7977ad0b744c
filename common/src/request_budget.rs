//! One bound on the request bytes a port holds at once, over every
//! connection: the gRPC port's request bodies here ([`RequestBudget::count`]),
//! the notifier's webhook bodies through a [`Held`] share. Each request is
//! at most `MAX_REQUEST_BYTES`, and each connection carries at most
//! `MAX_STREAMS_PER_CONNECTION` of them, but that only bounds a connection:
//! a client that opens streams and sends most of a large message on each,
//! then waits, had tonic buffer 512 MiB per connection until the RPC
//! timeout, and a few connections would have taken the machine's memory.
//! Here every request body takes its bytes from one budget as they arrive
//! and gives them back when it is dropped (tonic drops a unary request's
//! body once its message is decoded); a body that finds the budget spent
//! fails with `RESOURCE_EXHAUSTED`, naming the limit.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::codegen::Bytes;
use tonic::Status;

use crate::serve::MAX_REQUEST_BYTES;

/// Request bytes held at once by the whole port: what 128 requests of the
/// largest size hold. Ours are far smaller (a CreateTask at every limit is
/// under 200 KiB; a typical one a few hundred bytes).
pub const MAX_REQUEST_BYTES_IN_FLIGHT: usize = 128 * MAX_REQUEST_BYTES;

/// The most one body counts: tonic holds one message (at most
/// `MAX_REQUEST_BYTES`) and the start of the next, so a long stream (server
/// reflection's) does not keep taking from the budget for every message it
/// ever sent.
const MAX_HELD_PER_BODY: usize = 2 * MAX_REQUEST_BYTES;

/// How long a refused client is asked to wait: requests in flight end
/// within the RPC timeout, most within milliseconds.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The budget request bodies take their bytes from.
#[derive(Clone)]
pub struct RequestBudget {
    room: Arc<Semaphore>,
    bytes: usize,
}

impl RequestBudget {
    pub fn new(bytes: usize) -> Self {
        Self {
            room: Arc::new(Semaphore::new(bytes)),
            bytes,
        }
    }

    /// `request` with its body counted against this budget.
    pub fn count(
        &self,
        request: http::Request<tonic::body::Body>,
    ) -> http::Request<tonic::body::Body> {
        let held = self.hold(MAX_HELD_PER_BODY);
        request.map(|inner| tonic::body::Body::new(Budgeted { inner, held }))
    }

    /// A request's share, empty until it [`take`](Held::take)s; it counts
    /// at most `most` bytes.
    pub fn hold(&self, most: usize) -> Held {
        Held {
            budget: self.clone(),
            permit: None,
            bytes: 0,
            most,
        }
    }

    /// Bytes not taken at the moment.
    pub fn available(&self) -> usize {
        self.room.available_permits()
    }

    fn refusal(&self) -> Status {
        metrics::counter!("grpc_requests_refused_total", "reason" => "request_bytes").increment(1);
        tracing::warn!(
            limit = self.bytes,
            "refused a request: the requests being received hold the most bytes the port holds"
        );
        crate::error::Error::ResourceExhausted {
            message: format!(
                "MAX_REQUEST_BYTES_IN_FLIGHT: the requests being received hold {} MiB, the most \
                 this service holds at once; retry in {} ms",
                self.bytes / (1024 * 1024),
                RETRY_AFTER.as_millis()
            ),
            retry_after: Some(RETRY_AFTER),
        }
        .into()
    }
}

/// What one request holds of a budget, given back when dropped.
pub struct Held {
    budget: RequestBudget,
    permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
    most: usize,
}

impl Held {
    /// Takes `bytes` more of the budget (up to this request's most); false
    /// when the budget has not that many left.
    pub fn take(&mut self, bytes: usize) -> bool {
        let wanted = bytes.min(self.most - self.bytes);
        if wanted == 0 {
            return true;
        }
        let Ok(wanted_permits) = u32::try_from(wanted) else {
            return false;
        };
        let Ok(taken) = self
            .budget
            .room
            .clone()
            .try_acquire_many_owned(wanted_permits)
        else {
            return false;
        };
        self.bytes += wanted;
        match &mut self.permit {
            Some(permit) => permit.merge(taken),
            None => self.permit = Some(taken),
        }
        true
    }
}

/// A request body whose data frames hold their bytes of the budget.
struct Budgeted {
    inner: tonic::body::Body,
    held: Held,
}

impl Body for Budgeted {
    type Data = Bytes;
    type Error = tonic::codegen::StdError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let frame = match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(status)) => return Poll::Ready(Some(Err(Box::new(status)))),
            None => return Poll::Ready(None),
        };
        if let Some(data) = frame.data_ref() {
            if !self.held.take(data.len()) {
                return Poll::Ready(Some(Err(Box::new(self.held.budget.refusal()))));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt as _, StreamBody};

    fn body_of(chunks: Vec<usize>) -> http::Request<tonic::body::Body> {
        let frames = chunks
            .into_iter()
            .map(|n| Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(vec![0u8; n]))));
        http::Request::new(tonic::body::Body::new(StreamBody::new(
            futures::stream::iter(frames),
        )))
    }

    #[tokio::test]
    async fn bodies_hold_their_bytes_until_dropped_and_the_next_is_refused() {
        let budget = RequestBudget::new(100);
        let mut first = budget.count(body_of(vec![30, 30])).into_body();
        assert!(first.frame().await.unwrap().is_ok());
        assert!(first.frame().await.unwrap().is_ok());
        assert_eq!(budget.available(), 40);

        // 41 bytes do not fit in the 40 left: that body fails, naming the
        // limit, and what it held before is given back with it.
        let mut second = budget.count(body_of(vec![20, 21])).into_body();
        assert!(second.frame().await.unwrap().is_ok());
        let status = second.frame().await.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(
            status.message().starts_with("MAX_REQUEST_BYTES_IN_FLIGHT"),
            "{}",
            status.message()
        );
        drop(second);
        assert_eq!(budget.available(), 40);

        drop(first);
        assert_eq!(budget.available(), 100);
    }

    #[test]
    fn a_share_counts_at_most_its_most_and_gives_it_back() {
        let budget = RequestBudget::new(10);
        let mut first = budget.hold(4);
        assert!(first.take(3));
        assert!(first.take(3), "past its most, a share takes nothing");
        assert_eq!(budget.available(), 6);
        let mut second = budget.hold(100);
        assert!(!second.take(7));
        assert!(second.take(6));
        assert_eq!(budget.available(), 0);
        drop((first, second));
        assert_eq!(budget.available(), 10);
    }

    #[tokio::test]
    async fn one_long_stream_holds_at_most_two_requests_worth() {
        let budget = RequestBudget::new(MAX_REQUEST_BYTES_IN_FLIGHT);
        // Ten messages of the largest size, one after the other.
        let mut stream = budget
            .count(body_of(vec![MAX_REQUEST_BYTES; 10]))
            .into_body();
        while let Some(frame) = stream.frame().await {
            assert!(frame.is_ok());
        }
        assert_eq!(
            budget.available(),
            MAX_REQUEST_BYTES_IN_FLIGHT - MAX_HELD_PER_BODY
        );
    }
}
