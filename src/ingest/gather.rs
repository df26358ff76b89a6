//! How a writer gathers its next group off the queue. A group is written as
//! soon as no other group is being written, once it holds the most events a
//! group may, or once its first request has waited `wait` — whichever comes
//! first. So while one group commits, the next gathers the requests arriving
//! meanwhile, and PostgreSQL writes one group while aarc reads the requests
//! of the next.
//!
//! (A fixed wait for company instead gathered nearly every client into one
//! group: aarc and PostgreSQL then took turns, each idle while the other
//! worked, and two cores did a fifth fewer events per second.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Mutex, Notify};
use tokio::time::Instant;

use super::group::GroupSettings;

/// What waits in the queue: a request's events, queued at some moment.
pub(super) trait Queued {
    fn events(&self) -> usize;
    fn objects(&self) -> usize;
    fn queued(&self) -> Instant;
}

/// How many groups are being written, and a signal when none is.
#[derive(Default)]
pub(super) struct Writing {
    groups: AtomicUsize,
    none_left: Notify,
}

impl Writing {
    fn any(&self) -> bool {
        self.groups.load(Ordering::Acquire) > 0
    }

    fn begin(self: &Arc<Self>) -> GroupBeingWritten {
        self.groups.fetch_add(1, Ordering::AcqRel);
        GroupBeingWritten(self.clone())
    }
}

/// Counts a group as being written until dropped.
pub(super) struct GroupBeingWritten(Arc<Writing>);

impl Drop for GroupBeingWritten {
    fn drop(&mut self) {
        if self.0.groups.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.none_left.notify_waiters();
        }
    }
}

/// A group being gathered.
struct Group<J> {
    jobs: Vec<J>,
    events: usize,
    objects: usize,
    settings: GroupSettings,
}

impl<J: Queued> Group<J> {
    fn add(&mut self, job: J) {
        self.events += job.events();
        self.objects += job.objects();
        self.jobs.push(job);
    }

    fn is_full(&self) -> bool {
        self.events >= self.settings.max_events || self.objects >= self.settings.max_objects
    }

    fn first_queued(&self) -> Instant {
        self.jobs[0].queued()
    }

    /// Adds what waits in the queue now, up to a full group; false once the
    /// queue is closed.
    fn take_queued(&mut self, queue: &mut mpsc::Receiver<J>) -> bool {
        while !self.is_full() {
            match queue.try_recv() {
                Ok(job) => self.add(job),
                Err(mpsc::error::TryRecvError::Empty) => return true,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
        true
    }
}

/// Takes the next group off the queue (see the module's comment); `None`
/// once the queue is closed and empty. One writer gathers at a time, and its
/// group counts as being written before the next writer may gather: two
/// groups never both see none being written and go out half-empty.
pub(super) async fn gather<J: Queued>(
    queue: &Mutex<mpsc::Receiver<J>>,
    writing: &Arc<Writing>,
    settings: GroupSettings,
) -> Option<(Vec<J>, GroupBeingWritten)> {
    let mut queue = queue.lock().await;
    let first = queue.recv().await?;
    let mut group = Group {
        events: 0,
        objects: 0,
        jobs: Vec::with_capacity(settings.max_events.min(64)),
        settings,
    };
    group.add(first);
    let mut open = group.take_queued(&mut queue);
    if open && !group.is_full() && writing.any() {
        // Requests arriving meanwhile are left in the queue and taken once
        // the group ahead commits: watching for each woke this task (and a
        // thread) once per request, a tenth of aarc's work.
        let none_left = writing.none_left.notified();
        tokio::pin!(none_left);
        // Registered before looking again, so the last group's end cannot
        // slip between the look and the wait.
        none_left.as_mut().enable();
        if writing.any() {
            tokio::select! {
                () = none_left => {}
                () = tokio::time::sleep_until(group.first_queued() + settings.wait) => {}
            }
        }
        open = group.take_queued(&mut queue);
    }
    if open && !settings.linger.is_zero() {
        let until = group.first_queued() + settings.linger;
        while !group.is_full() {
            match tokio::time::timeout_at(until, queue.recv()).await {
                Ok(Some(job)) => group.add(job),
                _ => break,
            }
        }
    }
    Some((group.jobs, writing.begin()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A request of `events` events naming `objects` objects in all.
    struct Request {
        events: usize,
        objects: usize,
        queued: Instant,
    }

    impl Queued for Request {
        fn events(&self) -> usize {
            self.events
        }

        fn objects(&self) -> usize {
            self.objects
        }

        fn queued(&self) -> Instant {
            self.queued
        }
    }

    fn settings(wait_ms: u64, linger_ms: u64, max_events: usize) -> GroupSettings {
        GroupSettings {
            wait: Duration::from_millis(wait_ms),
            linger: Duration::from_millis(linger_ms),
            max_events,
            max_objects: 1_000,
            writers: 2,
        }
    }

    /// Queues a request of `events` events of one object each, now.
    fn send(tx: &mpsc::Sender<Request>, events: usize) {
        send_objects(tx, events, events);
    }

    fn send_objects(tx: &mpsc::Sender<Request>, events: usize, objects: usize) {
        tx.try_send(Request {
            events,
            objects,
            queued: Instant::now(),
        })
        .unwrap();
    }

    fn queue(sizes: &[usize]) -> (mpsc::Sender<Request>, Mutex<mpsc::Receiver<Request>>) {
        let (tx, rx) = mpsc::channel(64);
        for &events in sizes {
            send(&tx, events);
        }
        (tx, Mutex::new(rx))
    }

    fn sizes(group: &[Request]) -> Vec<usize> {
        group.iter().map(|r| r.events).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn with_none_being_written_a_group_goes_at_once_with_what_is_queued() {
        let (_tx, queue) = queue(&[1, 2, 3]);
        let writing = Arc::new(Writing::default());
        let started = Instant::now();
        let (group, _written) = gather(&queue, &writing, settings(50, 0, 32)).await.unwrap();
        assert_eq!(sizes(&group), [1, 2, 3]);
        assert_eq!(Instant::now(), started, "no time waited");
    }

    #[tokio::test(start_paused = true)]
    async fn a_group_is_cut_once_full_and_one_large_request_still_goes() {
        let (_tx, queue) = queue(&[2, 2, 2, 50, 1]);
        let writing = Arc::new(Writing::default());
        let (first, _a) = gather(&queue, &writing, settings(0, 0, 4)).await.unwrap();
        assert_eq!(sizes(&first), [2, 2]);
        // The next gathers while the first counts as being written; its queue
        // already holds a full group, so it does not wait.
        let started = Instant::now();
        let (second, _b) = gather(&queue, &writing, settings(50, 0, 4)).await.unwrap();
        assert_eq!(
            sizes(&second),
            [2, 50],
            "over the limit by its last request"
        );
        assert_eq!(Instant::now(), started);
    }

    #[tokio::test(start_paused = true)]
    async fn large_events_go_in_groups_of_their_own_without_waiting() {
        let (tx, queue) = queue(&[]);
        // Two events of 600 objects and one of 1,500; at most 1,000 a group.
        send_objects(&tx, 1, 600);
        send_objects(&tx, 1, 600);
        send_objects(&tx, 1, 1_500);
        send_objects(&tx, 1, 1);
        let writing = Arc::new(Writing::default());
        let started = Instant::now();
        let (first, _a) = gather(&queue, &writing, settings(50, 0, 32)).await.unwrap();
        assert_eq!(objects(&first), [600, 600], "full at 1,200 objects");
        // The first counts as being written; the second is full (one large
        // event), so it goes beside it at once rather than waiting 50 ms.
        let (second, _b) = gather(&queue, &writing, settings(50, 0, 32)).await.unwrap();
        assert_eq!(objects(&second), [1_500]);
        assert_eq!(Instant::now(), started, "no time waited");
        // A small one left behind still waits for company as before.
        let (third, _c) = gather(&queue, &writing, settings(50, 0, 32)).await.unwrap();
        assert_eq!(objects(&third), [1]);
        assert_eq!(Instant::now() - started, Duration::from_millis(50));
    }

    fn objects(group: &[Request]) -> Vec<usize> {
        group.iter().map(|r| r.objects).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn the_next_group_gathers_until_the_one_being_written_commits() {
        let (tx, queue) = queue(&[1]);
        let writing = Arc::new(Writing::default());
        let (_, written) = gather(&queue, &writing, settings(50, 0, 32)).await.unwrap();
        send(&tx, 2);
        send(&tx, 3);
        let started = Instant::now();
        let late = tx.clone();
        let commit = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            send(&late, 4);
            tokio::time::sleep(Duration::from_millis(5)).await;
            drop(written);
        });
        let (next, _) = gather(&queue, &writing, settings(50, 0, 32)).await.unwrap();
        assert_eq!(sizes(&next), [2, 3, 4], "what arrived during the commit");
        assert_eq!(Instant::now() - started, Duration::from_millis(10));
        commit.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_group_waits_no_longer_than_the_wait_for_a_slow_commit() {
        let (tx, queue) = queue(&[1]);
        let writing = Arc::new(Writing::default());
        let (_, _still_writing) = gather(&queue, &writing, settings(20, 0, 32)).await.unwrap();
        send(&tx, 2);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let started = Instant::now();
        let (next, _) = gather(&queue, &writing, settings(20, 0, 32)).await.unwrap();
        assert_eq!(sizes(&next), [2]);
        assert_eq!(
            Instant::now() - started,
            Duration::from_millis(15),
            "20 ms after its first request was queued"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn lingering_waits_for_company_with_none_being_written() {
        let (tx, queue) = queue(&[1]);
        let writing = Arc::new(Writing::default());
        let later = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            send(&tx, 2);
            tokio::time::sleep(Duration::from_millis(100)).await;
        });
        let started = Instant::now();
        let (group, _) = gather(&queue, &writing, settings(0, 30, 32)).await.unwrap();
        assert_eq!(sizes(&group), [1, 2]);
        assert_eq!(Instant::now() - started, Duration::from_millis(30));
        later.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_queue_ends_gathering_once_empty() {
        let (tx, queue) = queue(&[1]);
        drop(tx);
        let writing = Arc::new(Writing::default());
        let (group, _) = gather(&queue, &writing, settings(50, 50, 32))
            .await
            .unwrap();
        assert_eq!(sizes(&group), [1]);
        assert!(gather(&queue, &writing, settings(50, 50, 32))
            .await
            .is_none());
    }
}
