//! The admin API's listener (docs/observability.md): accepts on
//! `admin_listener`, reads one request per connection with
//! `admin::http::RequestReader`, answers it from the broker with
//! `admin::router`, closes.
//!
//! Bounded: [`MAX_ADMIN_CONNECTIONS`] requests served at once; beyond
//! them a connection is answered 503 with `Retry-After: 1` by a small
//! refusal of its own (at most [`MAX_BUSY_REPLIES`], each reading at most
//! a head and waiting at most [`BUSY_TIMEOUT`]; beyond that it is closed
//! unanswered); a request not whole within [`REQUEST_TIMEOUT`] gets 408
//! and the connection closes; the head and body caps are
//! `admin::http`'s (431, 413). Every refusal is counted in
//! `broker::Stats` and logged rate-limited. The broker is borrowed only
//! to answer, never across an await.
//!
//! Long polls: `GET /api/v1/tail` with nothing new is held open up to
//! [`TAIL_WAIT`], its task waiting on the tail's wake-up
//! (`notify::Broadcast`) or its deadline, and answered again each time;
//! it keeps its place among the [`MAX_ADMIN_CONNECTIONS`] meanwhile.
//!
//! Paced: the API shares the event loop with every MQTT client, so it may
//! take at most [`ADMIN_LOOP_SHARE_PERCENT`] of the loop's time. Each
//! poll of the accept loop and of a request's task is timed ([`Pacer`]),
//! and the next connection is accepted only once the loop has had the
//! rest of the time for everything else; waiting connections sit in the
//! kernel's backlog meanwhile, costing the loop nothing
//! (docs/observability.md, "What watching costs").

use std::cell::Cell;
use std::future::Future;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use log::{info, warn};
use smol::LocalExecutor;

use crate::admin::http::{HttpError, RequestReader, Response, MAX_HEAD_BYTES};
use crate::admin::router::{self, Action};

use super::Shared;

/// Requests served at once: the API is for an operator and a scraper,
/// not a crowd; eight keep a polling loop from starving MQTT.
pub const MAX_ADMIN_CONNECTIONS: usize = 8;

/// A whole request must have come within this; then 408 and close. The
/// answer must be written within it too.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// 503 answers being written at once; beyond them a connection is closed
/// unanswered (a flood must not cost more than this).
const MAX_BUSY_REPLIES: usize = 32;

/// How long a 503 answer waits for the request head and its write.
const BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// How long `GET /api/v1/tail` waits for a message (a long poll): long
/// enough that a console's tail costs a request every few seconds when
/// quiet, well within the client's patience and [`REQUEST_TIMEOUT`]
/// (which bounds the answer's write afterwards).
pub const TAIL_WAIT: Duration = Duration::from_secs(4);

/// Bytes read per call.
const READ_CHUNK: usize = 4096;

/// The most of the event loop's time the API may take, in percent. MQTT
/// clients are served on the same thread, and on a small machine the
/// requests' CPU (ours, the kernel's TCP work for a connection per
/// request, the client's) competes with theirs: at 10 %, eight loops
/// polling without pause got ~2,200 answers a second and MQTT latency's
/// p99 at 10k msg/s went from ~110 µs to ~730 µs on two x86 cores. At
/// 2 % they get ~200-370 a second, each within ~0.1 s, far above what a
/// dashboard or a scraper asks (docs/observability.md, "What watching
/// costs").
pub const ADMIN_LOOP_SHARE_PERCENT: u32 = 2;

/// API work answered unpaced after a quiet spell: a dashboard's few
/// requests at once, `edgemq ctl`, a scrape are not made to wait; only a
/// sustained stream of requests is paced.
const ADMIN_BURST: Duration = Duration::from_millis(2);

/// Times the API's work and says when it may accept again: after each
/// piece of work that took `t`, the rest of the loop gets
/// `t × (100 − share) / share` before the next connection is accepted,
/// less what a quiet spell saved up (at most [`ADMIN_BURST`] of work).
#[derive(Debug, Default)]
struct Pacer {
    next_accept: Cell<Option<Instant>>,
}

/// The loop's time owed to everything else after `spent` of API work.
fn rest_after(spent: Duration) -> Duration {
    spent.saturating_mul(100 - ADMIN_LOOP_SHARE_PERCENT) / ADMIN_LOOP_SHARE_PERCENT
}

impl Pacer {
    /// Work that ended at `end` and took `spent` of the loop.
    fn charge(&self, end: Instant, spent: Duration) {
        // The credit of a quiet spell: the rest owed may lie this far in
        // the past. Near the clock's origin there is no credit.
        let saved = end.checked_sub(rest_after(ADMIN_BURST)).unwrap_or(end);
        let from = self.next_accept.get().map_or(saved, |at| at.max(saved));
        // Past the clock's range only if `spent` were centuries.
        let rest = rest_after(spent);
        self.next_accept.set(from.checked_add(rest).or(Some(from)));
    }

    /// When the next connection may be accepted (`None`: now).
    fn next_accept(&self) -> Option<Instant> {
        self.next_accept.get()
    }
}

/// Runs `work`, charging the time each of its polls takes to `pacer`.
async fn metered<F: Future>(pacer: &Pacer, work: F) -> F::Output {
    let mut work = std::pin::pin!(work);
    future::poll_fn(|cx| {
        let start = Instant::now();
        let poll = work.as_mut().poll(cx);
        let end = Instant::now();
        pacer.charge(end, end.saturating_duration_since(start));
        poll
    })
    .await
}

/// The API's socket, bound before root is dropped, and its token.
pub struct AdminListener {
    listener: TcpListener,
    token: String,
}

impl AdminListener {
    /// Binds `address` (std sockets: no thread is started), before root
    /// is dropped, as the MQTT listeners are.
    pub fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
        TcpListener::bind(address)
    }

    /// The bound socket and the token its requests must carry.
    pub fn new(listener: TcpListener, token: String) -> AdminListener {
        AdminListener { listener, token }
    }
}

/// Spawns the accept loop; `None` (logged) if the reactor refuses it.
pub(super) fn start(
    executor: &Rc<LocalExecutor<'static>>,
    shared: &Rc<Shared>,
    admin: AdminListener,
) -> Option<smol::Task<()>> {
    let address = admin.listener.local_addr().ok();
    let listener = match Async::new(admin.listener) {
        Ok(listener) => listener,
        Err(error) => {
            warn!("admin API: cannot serve its listener: {error}");
            return None;
        }
    };
    if let Some(address) = address {
        info!("admin API at http://{address}/");
    }
    let token: Rc<str> = Rc::from(admin.token);
    let accepting = accept_loop(executor.clone(), shared.clone(), listener, token);
    Some(super::spawn::spawn(executor, accepting))
}

async fn accept_loop(
    executor: Rc<LocalExecutor<'static>>,
    shared: Rc<Shared>,
    listener: Async<TcpListener>,
    token: Rc<str>,
) {
    let active = Rc::new(Cell::new(0usize));
    let busy = Rc::new(Cell::new(0usize));
    let pacer = Rc::new(Pacer::default());
    loop {
        // Requests still being served while we wait charge more time:
        // look again after each wait.
        while let Some(at) = pacer.next_accept().filter(|&at| at > Instant::now()) {
            Timer::at(at).await;
        }
        let stream = match metered(&pacer, listener.accept()).await {
            Ok((stream, _)) => stream,
            Err(error) => {
                warn!("admin API: accept failed: {error}");
                Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        if active.get() >= MAX_ADMIN_CONNECTIONS {
            refuse_busy(&executor, &shared, stream, &busy, &pacer);
        } else {
            active.set(active.get() + 1);
            let (shared, token, active) = (shared.clone(), token.clone(), active.clone());
            let pacer = pacer.clone();
            let serving = async move {
                metered(&pacer, serve_one(&shared, stream, &token)).await;
                active.set(active.get().saturating_sub(1));
            };
            super::spawn::spawn(&executor, serving).detach();
        }
        future::yield_now().await;
    }
}

/// 503 with `Retry-After: 1`, after reading what the client sent (so
/// that closing does not reset the connection under the answer).
fn refuse_busy(
    executor: &LocalExecutor<'static>,
    shared: &Shared,
    mut stream: Async<TcpStream>,
    busy: &Rc<Cell<usize>>,
    pacer: &Rc<Pacer>,
) {
    shared.broker.borrow_mut().count_admin_refusal(
        Instant::now(),
        503,
        "more than 8 requests at once",
    );
    if busy.get() >= MAX_BUSY_REPLIES {
        return;
    }
    busy.set(busy.get() + 1);
    let (busy, pacer) = (busy.clone(), pacer.clone());
    let refusing = async move {
        let answer = metered(&pacer, async {
            let mut reader = RequestReader::default();
            let _ = read_request(&mut stream, &mut reader).await;
            let response = Response::error(503, "busy: more than 8 requests at once")
                .with_header("Retry-After", "1");
            let _ = stream.write_all(&response.to_bytes()).await;
        });
        future::or(answer, sleep(BUSY_TIMEOUT)).await;
        busy.set(busy.get().saturating_sub(1));
    };
    super::spawn::spawn(executor, refusing).detach();
}

/// Reads until the request is whole, the peer stops, or a bound is hit;
/// `Ok(None)`: the peer closed first.
async fn read_request(
    stream: &mut Async<TcpStream>,
    reader: &mut RequestReader,
) -> Result<Option<crate::admin::http::Request>, HttpError> {
    let mut chunk = [0u8; READ_CHUNK];
    let mut total = 0usize;
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => n,
        };
        total = total.saturating_add(n);
        if let Some(request) = reader.feed(chunk.get(..n).unwrap_or_default())? {
            return Ok(Some(request));
        }
        // The reader bounds the head and the body; this bounds the rest.
        if total > MAX_HEAD_BYTES + crate::admin::http::MAX_BODY_BYTES {
            return Err(HttpError::BodyTooLarge);
        }
    }
}

/// One connection: one request, one answer, close.
async fn serve_one(shared: &Shared, mut stream: Async<TcpStream>, token: &str) {
    let mut reader = RequestReader::default();
    let read = async { Some(read_request(&mut stream, &mut reader).await) };
    let timeout = async {
        Timer::after(REQUEST_TIMEOUT).await;
        None
    };
    let response = match future::or(read, timeout).await {
        Some(Ok(None)) => return,
        Some(Ok(Some(request))) => answer_or_wait(shared, &request, token).await,
        Some(Err(error)) => {
            let status = error.status();
            let mut broker = shared.broker.borrow_mut();
            broker.count_admin_refusal(Instant::now(), status, error.message());
            Response::error(status, error.message())
        }
        None => {
            shared.broker.borrow_mut().count_admin_refusal(
                Instant::now(),
                408,
                "no whole request within 5 s",
            );
            Response::error(408, "no whole request within 5 s")
        }
    };
    let write = async {
        let _ = stream.write_all(&response.to_bytes()).await;
        let _ = stream.flush().await;
    };
    future::or(write, sleep(REQUEST_TIMEOUT)).await;
}

/// Answers at once, or, for a tail with nothing new, asks again each time
/// a message is tailed until [`TAIL_WAIT`] is up. The broker is borrowed
/// only to answer; while waiting the request costs a waker.
async fn answer_or_wait(
    shared: &Shared,
    request: &crate::admin::http::Request,
    token: &str,
) -> Response {
    let deadline = Instant::now() + TAIL_WAIT;
    let mut counted = false;
    loop {
        let (response, action) = answer(shared, request, token, !counted);
        counted = true;
        if action != Action::WaitForTail || Instant::now() >= deadline {
            return response;
        }
        let news = shared.tail_news.next();
        future::or(news, sleep_until(deadline)).await;
    }
}

fn answer(
    shared: &Shared,
    request: &crate::admin::http::Request,
    token: &str,
    count: bool,
) -> (Response, Action) {
    let now = Instant::now();
    let facts = || shared.edge_facts();
    let (response, action) = {
        let mut broker = shared.broker.borrow_mut();
        if count {
            broker.count_admin_request();
        }
        router::handle(&mut broker, now, &facts, token, request)
    };
    shared.dispatch_wakeups();
    if action == Action::Reload {
        request_reload();
    }
    (response, action)
}

/// `POST /reload`: the same path as SIGHUP (main.rs's signal loop), by
/// sending it to ourselves.
fn request_reload() {
    let pid = rustix::process::getpid();
    if let Err(error) = rustix::process::kill_process(pid, rustix::process::Signal::HUP) {
        warn!("admin API: cannot ask for a reload: {error}");
    }
}

async fn sleep(duration: Duration) {
    Timer::after(duration).await;
}

async fn sleep_until(at: Instant) {
    Timer::at(at).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rest_of_the_loop_gets_its_share_first() {
        let pacer = Pacer::default();
        assert_eq!(pacer.next_accept(), None);
        let t0 = Instant::now() + Duration::from_secs(1);
        let ms = Duration::from_millis;
        let rest = |d: Duration| d * (100 - ADMIN_LOOP_SHARE_PERCENT) / ADMIN_LOOP_SHARE_PERCENT;
        assert_eq!(ADMIN_BURST, ms(2));
        // A quiet API answers its burst unpaced: 2 ms of work at once.
        pacer.charge(t0, ms(1));
        assert_eq!(pacer.next_accept(), Some(t0 - rest(ms(1))));
        pacer.charge(t0, ms(1));
        assert_eq!(pacer.next_accept(), Some(t0));
        // Then each piece of work is followed by its rest.
        pacer.charge(t0, ms(1));
        assert_eq!(pacer.next_accept(), Some(t0 + rest(ms(1))));
        // Work done while the API should be resting adds to the wait.
        pacer.charge(t0 + ms(2), ms(1));
        assert_eq!(pacer.next_accept(), Some(t0 + rest(ms(2))));
        // A quiet spell saves up a burst again, never more.
        let later = t0 + ms(1000);
        pacer.charge(later, ms(3));
        assert_eq!(pacer.next_accept(), Some(later + rest(ms(1))));
    }

    #[test]
    fn a_metered_poll_is_charged_what_it_took() {
        let pacer = Pacer::default();
        let took = Duration::from_millis(5);
        let before = Instant::now();
        future::block_on(metered(&pacer, async { std::thread::sleep(took) }));
        let after = Instant::now();
        // Beyond the burst a quiet API may take unpaced.
        let paced = |d: Duration| rest_after(d.saturating_sub(ADMIN_BURST));
        let next = pacer.next_accept().unwrap();
        assert!(next >= before + took + paced(took), "{next:?}");
        // At most the whole poll, as measured from outside, and its rest.
        let whole = after - before;
        assert!(next <= after + paced(whole), "{next:?}");
    }
}
