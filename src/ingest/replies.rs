//! How a written group's answers reach the requests waiting for them. A
//! request waits on an HTTP thread; waking a task of another thread's
//! runtime costs that runtime a system call (an `eventfd` write) per wake, so
//! a group of 16 requests woke the HTTP thread 16 times, each on the writer's
//! way to its next group. An HTTP thread that serves replies here
//! (`serve_on_this_thread`) instead gets one message per group, and hands
//! each answer to its request itself, without crossing threads again.

use std::cell::RefCell;

use tokio::sync::{mpsc, oneshot};

use super::Receipt;
use crate::Error;

/// What a request waits for: its receipt, or why it was not stored.
pub(super) type Answer = Result<Receipt, Error>;

type Delivery = Vec<(oneshot::Sender<Answer>, Answer)>;
type ThreadMailbox = mpsc::UnboundedSender<Delivery>;

thread_local! {
    static THIS_THREAD: RefCell<Option<ThreadMailbox>> = const { RefCell::new(None) };
}

/// Starts handing answers out on this thread. Call it where
/// `tokio::task::spawn_local` may be called (an actix HTTP worker's local
/// runtime); requests waiting on other threads are answered one by one.
/// A second call replaces the first mailbox, whose task then ends.
pub fn serve_on_this_thread() {
    let (mailbox, mut deliveries) = mpsc::unbounded_channel::<Delivery>();
    tokio::task::spawn_local(async move {
        while let Some(delivery) = deliveries.recv().await {
            for (request, answer) in delivery {
                // A request that stopped waiting (its client left) needs no answer.
                let _ = request.send(answer);
            }
        }
    });
    THIS_THREAD.with(|t| *t.borrow_mut() = Some(mailbox));
}

/// Where one request's answer goes.
pub(super) struct ReplyTo {
    request: oneshot::Sender<Answer>,
    thread: Option<ThreadMailbox>,
}

/// A place for the calling request's answer, and the receiver it waits on.
pub(super) fn reply_to() -> (ReplyTo, oneshot::Receiver<Answer>) {
    let (request, answer) = oneshot::channel();
    let thread = THIS_THREAD.with(|t| t.borrow().clone());
    (ReplyTo { request, thread }, answer)
}

/// The answers of a group, gathered by thread, sent by `deliver`.
#[derive(Default)]
pub(super) struct Answers {
    by_thread: Vec<(ThreadMailbox, Delivery)>,
}

impl Answers {
    pub(super) fn add(&mut self, to: ReplyTo, answer: Answer) {
        let Some(thread) = to.thread else {
            let _ = to.request.send(answer);
            return;
        };
        match self
            .by_thread
            .iter_mut()
            .find(|(mailbox, _)| mailbox.same_channel(&thread))
        {
            Some((_, delivery)) => delivery.push((to.request, answer)),
            None => self.by_thread.push((thread, vec![(to.request, answer)])),
        }
    }

    /// One message per thread. Should a thread be gone, its requests went
    /// with it.
    pub(super) fn deliver(self) {
        for (mailbox, delivery) in self.by_thread {
            let _ = mailbox.send(delivery);
        }
    }
}
