//! [`TestEcho`]: an implementation of the test service whose outcome each
//! request chooses.

use std::pin::Pin;

use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use crate::echo::echo_server::Echo;
use crate::echo::{EchoReply, EchoRequest};

/// The test service. `Unary` answers by the request's `text`: `"not_found"`
/// and `"invalid"` fail with `NOT_FOUND` and `INVALID_ARGUMENT`, `"panic"`
/// panics, `"hang"` never answers, anything else is echoed. `ServerStream`
/// sends `count` replies, or one reply and then nothing forever when `count`
/// is 0. `ClientStream` answers with the number of requests it read.
/// `BidiStream` echoes each request.
#[derive(Clone, Copy, Debug, Default)]
pub struct TestEcho;

/// A boxed stream of replies.
pub type ReplyStream = Pin<Box<dyn Stream<Item = Result<EchoReply, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Echo for TestEcho {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let request = request.into_inner();
        match request.text.as_str() {
            "not_found" => Err(Status::not_found("no such thing")),
            "invalid" => Err(Status::invalid_argument("bad text")),
            #[allow(clippy::panic)]
            "panic" => panic!("the test handler panics on purpose"),
            "hang" => std::future::pending().await,
            _ => Ok(Response::new(EchoReply {
                text: request.text,
                index: 0,
            })),
        }
    }

    type ServerStreamStream = ReplyStream;

    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<ReplyStream>, Status> {
        let EchoRequest { text, count } = request.into_inner();
        let reply = move |index| {
            Ok(EchoReply {
                text: text.clone(),
                index,
            })
        };
        let stream: ReplyStream = if count == 0 {
            Box::pin(tokio_stream::iter([reply(0)]).chain(tokio_stream::pending()))
        } else {
            Box::pin(tokio_stream::iter((0..count).map(reply)))
        };
        Ok(Response::new(stream))
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoReply>, Status> {
        let mut stream = request.into_inner();
        let mut index = 0;
        while let Some(message) = stream.next().await {
            message?;
            index += 1;
        }
        Ok(Response::new(EchoReply {
            text: "done".to_owned(),
            index,
        }))
    }

    type BidiStreamStream = ReplyStream;

    async fn bidi_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<ReplyStream>, Status> {
        let stream = request.into_inner().map(|message| {
            message.map(|m| EchoReply {
                text: m.text,
                index: m.count,
            })
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
