//! Leader/follower reading of a peer's transport.
//!
//! One **read role** exists per peer: only its holder calls `Transport::read_msg`. The role
//! is taken by a protocol thread blocked in `read_msg` when it finds the role free (the
//! leader), or by the peer's standby reader (`peer-read`) when no protocol is waiting. A
//! leader that reads a message for itself returns it without any hand-off; one for another
//! protocol goes to that protocol's one-message mailbox and the role stays *pending* on it
//! until it is taken. A Ping is answered by the reader with a non-blocking write of the
//! Pong when the socket takes it at once (the supervisor writes it otherwise, see
//! `Peer::control`); Disconnects, read errors and panics of the transport end the peer as the reader's error.
//!
//! Invariants (all state below is under one mutex):
//!
//! 1. **One reader.** `transport.read_msg` is called only by the thread that set the role to
//!    `Reading`, and the role leaves `Reading` only through that thread.
//! 2. **Back-pressure, as geth's rendezvous.** A protocol message read for a protocol other
//!    than the reader's sits in that protocol's mailbox and the role is `Pending(i)`: nothing
//!    more is read until protocol `i` takes it (which frees the role). So at most one message
//!    is read and not yet taken, as with geth's unbuffered channel.
//! 3. **Nobody waits on a free role.** Whenever the role becomes `Free`, a thread that can
//!    take it is woken: a protocol waiting in `read_msg` if there is one, otherwise the
//!    standby (see 4). A waiting thread re-checks everything after each wake-up, so extra
//!    wake-ups are harmless.
//! 4. **Someone reads when no protocol waits.** The standby takes a free role when no
//!    protocol is waiting in `read_msg`, so a Ping or a Disconnect is noticed while every
//!    protocol is busy, as in geth where the reader is blocked in `ReadMsg`. One
//!    relaxation keeps the hot path free of wake-ups: a protocol that took its own message
//!    while the standby is in its short *busy* wait (it delivered a message a moment ago)
//!    leaves the role free without waking it, expecting to be back in `read_msg` soon; the
//!    standby then takes the role after at most [`STANDBY_GRACE`] if no protocol came back.
//!    When the standby is in its idle wait (no deadline but [`STANDBY_LINGER`]), or the
//!    message taken is large
//!    (so that reading the next frame overlaps with the protocol's work on this one), freeing
//!    the role wakes it.
//!
//!    **4a. The standby comes and goes.** A standby that waited [`STANDBY_LINGER`] without
//!    being needed (the role held or pending all along) leaves: it marks itself `Gone` under
//!    the lock and returns. Whoever frees the role later finds `Gone` under the same lock
//!    and, if no protocol waits, asks the supervisor for a new standby (`Starting`; one
//!    request at a time). A lazy request (invariant 4's relaxation) is checked by the
//!    supervisor after [`STANDBY_GRACE`]: it starts a standby only if the role is still free
//!    with nobody waiting (or lazy requests come in a stream, see `Peer::supervise`), and otherwise
//!    marks it `Gone` again, so the next freeing asks again. So an idle peer whose protocol
//!    waits in `read_msg` keeps no standby thread, and no freeing of the role is missed.
//! 5. **One error.** A failed read (error, Disconnect, panic) sets the role `Dead` for good,
//!    so the reader's error is reported once; a protocol leader that hit it waits for the
//!    shutdown broadcast and then returns [`Error::Eof`], as a protocol whose reader failed.
//! 6. **Shutdown.** `close` sets `closed` and wakes every waiter; a thread in `read_msg` of
//!    the transport is woken by the transport's shutdown. Messages in mailboxes are dropped.

use std::panic::{catch_unwind, AssertUnwindSafe};
// std's, not parking_lot's: a thread that waits on a parking_lot lock or condvar takes a
// place in parking_lot's global table, which grows with the most threads that ever waited
// and never shrinks (every peer's standby waits here).
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Sender};

use super::{answer_ping, panic_message, Control, Event, Inner, Running};
use crate::transport::{DISC_MSG, PING_MSG};
use crate::{DiscReason, Error, Msg, Transport, BASE_PROTOCOL_LENGTH};

/// How long the standby lets a free role lie after a protocol took its own message, while
/// traffic flows, before it reads itself (invariant 4).
pub(super) const STANDBY_GRACE: Duration = Duration::from_millis(2);

/// A protocol that takes a message at least this large (uncompressed) wakes the standby at
/// once rather than leaving the role free: reading and decrypting the next large frame then
/// overlaps with the protocol's work on this one (the wake-up costs less than that overlap
/// saves; for small messages it is the other way round).
pub(super) const EAGER_HAND_ON_SIZE: u32 = 8 << 10;

/// How long the standby waits unneeded before it leaves (invariant 4a).
///
/// One second: a peer with any traffic (a message a second, or a stream of them) keeps its
/// standby, so starting one again (a thread spawn, tens of microseconds) happens at most
/// about once a second per peer, while an idle peer gives its stack back within a second.
pub(super) const STANDBY_LINGER: Duration = Duration::from_secs(1);

/// How long a new peer with protocols goes without a standby: the supervisor then starts one
/// only if the read role is free with no protocol waiting in `read_msg`.
///
/// A protocol that reaches `read_msg` in this time takes the read role and keeps it while
/// the peer is idle, so that an idle peer never starts a standby thread at all. 50 ms is far
/// more than a thread needs to start; the cost is that in a peer's first 50 ms a frame is
/// read only by a protocol in `read_msg` (a Ping or Disconnect arriving while none reads is
/// read up to that much later, and a freed role waits for the check).
pub(super) const STANDBY_START_GRACE: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Free,
    Reading,
    Pending(usize),
    Dead,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Standby {
    /// Not waiting: reading, or between checks.
    Active,
    /// Waiting with the grace deadline: freeing the role need not wake it.
    Busy,
    /// Waiting for the role to be freed, at most [`STANDBY_LINGER`]: freeing the role wakes
    /// it.
    Idle,
    /// No standby thread: freeing the role (with no protocol waiting) asks the supervisor
    /// for one.
    Gone,
    /// Asked for (or started and not yet running): freeing the role does nothing more.
    Starting,
}

struct State {
    role: Role,
    /// Threads of protocol `i` waiting in `read_msg`.
    waiting: Vec<usize>,
    mailbox: Vec<Option<Msg>>,
    standby: Standby,
    closed: bool,
}

impl State {
    fn protocols_waiting(&self) -> bool {
        self.waiting.iter().any(|&n| n > 0)
    }
}

/// What one read of the transport gave.
enum Frame<'a> {
    /// A message for a protocol (its absolute code), now in that protocol's mailbox with
    /// the role `Pending` on it: the lock, held since.
    For(MutexGuard<'a, State>),
    /// A Ping, read and discarded: the caller answers it (from its shallower frame).
    Ping,
    /// A Ping queued for the supervisor, or another base message ignored.
    Handled,
    /// The reader's end: the remote's Disconnect, a read error or a panic.
    Failed(Error),
}

/// The read role and the mailboxes of one peer.
pub(super) struct Reading {
    state: Mutex<State>,
    proto_cv: Vec<Condvar>,
    standby_cv: Condvar,
    /// The supervisor's events: the reader's error (invariant 5) and the requests for a
    /// new standby (one at a time; `true`: lazy, see 4a).
    events: Sender<Event>,
}

impl Reading {
    /// Reading for `protocols` protocols; the reader's error and the requests for a standby
    /// go to `events`. The first standby is `Starting`: `Peer::run` starts it, or its supervisor
    /// after [`STANDBY_START_GRACE`] if still needed.
    pub(super) fn new(protocols: usize, events: Sender<Event>) -> Reading {
        Reading {
            state: Mutex::new(State {
                role: Role::Free,
                waiting: vec![0; protocols],
                mailbox: (0..protocols).map(|_| None).collect(),
                standby: Standby::Starting,
                closed: false,
            }),
            proto_cv: (0..protocols).map(|_| Condvar::new()).collect(),
            standby_cv: Condvar::new(),
            events,
        }
    }

    /// The supervisor's answer to a standby request (invariant 4a): true when it should
    /// start a standby now, which then stays `Starting` until the thread runs. Otherwise the
    /// standby is marked `Gone`, so that the next freeing of the role asks again. `force`
    /// starts one whenever the peer still reads (requests come in a stream).
    pub(super) fn claim_standby_start(&self, force: bool) -> bool {
        let mut st = lock(&self.state);
        if st.standby != Standby::Starting {
            return false;
        }
        let reads = !st.closed && st.role != Role::Dead;
        let needed = st.role == Role::Free && !st.protocols_waiting();
        if reads && (force || needed) {
            return true;
        }
        st.standby = Standby::Gone;
        false
    }

    /// A standby could not be started: the peer ends; nothing is asked again.
    pub(super) fn standby_not_started(&self) {
        let mut st = lock(&self.state);
        if st.standby == Standby::Starting {
            st.standby = Standby::Gone;
        }
    }

    /// Ends reading: every waiter returns.
    pub(super) fn close(&self) {
        let mut st = lock(&self.state);
        st.closed = true;
        // Invariant 6: a message nobody took is dropped now, not when the last handle goes.
        st.mailbox.iter_mut().for_each(|m| *m = None);
        drop(st);
        for cv in &self.proto_cv {
            cv.notify_all();
        }
        self.standby_cv.notify_all();
    }

    /// Invariant 3: the role just became free; wake whoever should take it. `lazy` is true
    /// when a protocol took its own small message and expects to read again soon.
    fn hand_on(&self, st: &mut State, lazy: bool) {
        if let Some(i) = st.waiting.iter().position(|&n| n > 0) {
            self.proto_cv[i].notify_one();
            return;
        }
        match st.standby {
            Standby::Idle => {
                self.standby_cv.notify_one();
            }
            Standby::Busy if !lazy => {
                self.standby_cv.notify_one();
            }
            Standby::Gone if !st.closed => {
                // Invariant 4a: seen under the lock the standby marked itself `Gone` under,
                // so a standby that is leaving is never counted on. One request at a time:
                // `Starting` until the supervisor has answered, so its slot is free.
                st.standby = Standby::Starting;
                let _ = self.events.try_send(Event::StandbyRequested(lazy));
            }
            _ => {}
        }
    }

    /// Reads one frame and classifies it. Called by the role's holder, without the lock.
    ///
    /// A panic anywhere in here (the transport's read or the dispatch) is the reader's end,
    /// so that the role never stays `Reading` with nobody reading (invariant 5).
    ///
    /// Not inlined, nor are its cold parts: this frame stays on the stack while the
    /// transport decodes a frame, one of the two deepest paths of an idle peer's protocol
    /// thread with the Pong's (every stack page it touches stays resident).
    ///
    /// A protocol message goes to its protocol's mailbox here (see `deposit`), so that it
    /// is not copied back up through the callers' frames.
    #[inline(never)]
    fn read_frame<'a>(&'a self, ctx: &ReadCtx<'_>, leader: Option<usize>) -> Frame<'a> {
        catch_unwind(AssertUnwindSafe(|| self.read_frame_inner(ctx, leader)))
            .unwrap_or_else(|panic| Reading::reader_panicked(&*panic))
    }

    #[cold]
    #[inline(never)]
    fn reader_panicked<'a>(panic: &(dyn std::any::Any + Send)) -> Frame<'a> {
        Frame::Failed(Error::other(format!(
            "peer reader panicked: {}",
            panic_message(panic)
        )))
    }

    /// Inlined into `read_frame`'s closure: one frame for the panic guard and the
    /// classification, under which the transport decodes.
    #[inline(always)]
    fn read_frame_inner<'a>(&'a self, ctx: &ReadCtx<'_>, leader: Option<usize>) -> Frame<'a> {
        let mut msg = match ctx.transport.read_msg() {
            Ok(msg) => msg,
            Err(e) => return Frame::Failed(e),
        };
        msg.received_at = Instant::now();
        match msg.code {
            PING_MSG => match msg.discard() {
                Ok(()) => Frame::Ping,
                Err(e) => Frame::Failed(e),
            },
            // The last message: the connection closes after it whatever it says.
            DISC_MSG => Frame::Failed(Error::Disconnected(DiscReason::decode(
                msg.payload.consume(),
            ))),
            code if code < BASE_PROTOCOL_LENGTH => match msg.discard() {
                Ok(()) => Frame::Handled,
                Err(e) => Frame::Failed(e),
            },
            code => match ctx
                .peer
                .running
                .iter()
                .position(|r| r.offset <= code && code - r.offset < r.protocol.length)
            {
                Some(i) => Frame::For(self.deposit(i, msg, leader)),
                None => Frame::Failed(Error::MsgCodeOutOfRange(code)),
            },
        }
    }

    /// Puts a message read by the role's holder into protocol `i`'s mailbox and leaves the
    /// role `Pending` on it (invariant 2); wakes protocol `i` unless it is `leader`, which
    /// takes the message itself under the lock returned. Not inlined: it runs after the
    /// transport's read returned, so its frame need not be part of `read_frame`'s.
    #[inline(never)]
    fn deposit(&self, i: usize, msg: Msg, leader: Option<usize>) -> MutexGuard<'_, State> {
        let mut st = lock(&self.state);
        st.mailbox[i] = Some(msg);
        st.role = Role::Pending(i);
        // Only a thread counted in `waiting` (under this lock) can be in the wait: std's
        // condvar makes a system call on every notify, so none is made for nobody.
        if leader != Some(i) && st.waiting[i] > 0 {
            self.proto_cv[i].notify_one();
        }
        st
    }

    /// A Ping: answered here when the socket takes the Pong at once (the usual case), so
    /// that an idle peer's Ping wakes nobody but its reader; otherwise the supervisor is
    /// asked, as before. Called by the role's holder once `read_until_message` returned, not
    /// from under `read_frame`: the Pong's encoding then starts from a shallower stack.
    #[inline(never)]
    fn ping(ctx: &ReadCtx<'_>) {
        if let Some(request) = answer_ping(ctx.peer, ctx.transport) {
            Reading::ask_supervisor(ctx, request);
        }
    }

    /// Hands a Pong the reader could not write to the supervisor (a frame of its own: a
    /// `select!` takes a large one).
    #[cold]
    #[inline(never)]
    fn ask_supervisor(ctx: &ReadCtx<'_>, request: Control) {
        select! {
            send(ctx.peer.ping_recv_tx, request) -> _ => {}
            recv(ctx.peer.closed) -> _ => {}
        }
    }

    /// Reads as the role's holder until a protocol message, a Ping or the end. Returns the
    /// lock, or `None` after a Ping: the role is still held and the lock is not, and the
    /// caller answers the Ping (`Reading::ping`) before it goes on.
    ///
    /// A protocol message is left in its protocol's mailbox with the role `Pending` on it
    /// (invariant 2), woken unless it is `leader`'s own (the caller takes it under this
    /// lock). The standby (`leader` is `None`) also returns with no message after a handled
    /// frame when a protocol waits in `read_msg`, so that it can lead (4a).
    ///
    /// Inlined into its callers, and nothing read goes back up through the callers' frames:
    /// the frames on the stack while the transport decodes are only `read_turn`'s (or
    /// `standby`'s) and `read_frame`'s, and a Pong is written from a shallower frame still
    /// (every stack page a thread touches stays resident, see `tests/idle_stack.rs`).
    #[inline(always)]
    fn read_until_message<'a>(
        &'a self,
        st: MutexGuard<'a, State>,
        ctx: &ReadCtx<'_>,
        leader: Option<usize>,
    ) -> Option<MutexGuard<'a, State>> {
        drop(st);
        loop {
            match self.read_frame(ctx, leader) {
                Frame::For(st) => return Some(st),
                Frame::Ping => return None,
                Frame::Handled => {
                    let st = lock(&self.state);
                    if st.closed || (leader.is_none() && st.protocols_waiting()) {
                        return Some(st);
                    }
                }
                Frame::Failed(e) => {
                    self.reader_failed(e);
                    return Some(lock(&self.state));
                }
            }
        }
    }

    /// The role's end after a failed read: reports `e` to the supervisor.
    #[cold]
    #[inline(never)]
    fn reader_failed(&self, e: Error) {
        let mut st = lock(&self.state);
        st.role = Role::Dead;
        drop(st);
        // Sent once (the role is dead from here on), into a slot kept for it: never full.
        let _ = self.events.try_send(Event::ReadFailed(e));
    }

    /// A protocol's `read_msg`: the message for protocol `me`, or [`Error::Eof`] once the
    /// peer shuts down.
    ///
    /// A Ping read as the role's holder is answered here, once `read_turn` has returned:
    /// the Pong is sealed and sent with no frame of the read path below the caller's. Inlined
    /// into the caller (the protocol's `read_msg`) for the same reason.
    #[inline(always)]
    pub(super) fn read_for(&self, running: &Running, ctx: &ReadCtx<'_>) -> Result<Msg, Error> {
        let mut read = Err(Error::Eof);
        let mut resumed = false;
        while !self.read_turn(running, ctx, resumed, &mut read) {
            Reading::ping(ctx);
            resumed = true;
        }
        read
    }

    /// `read_for` up to a message or the end (`true`, with it in `read`), or a Ping read as
    /// the role's holder (`false`: the role is still held; the caller answers the Ping and
    /// calls again with `resumed`, which goes on reading unless the peer was closed
    /// meanwhile). The result goes to `read`, the caller's: no copy of it in this frame.
    #[inline(never)]
    fn read_turn(
        &self,
        running: &Running,
        ctx: &ReadCtx<'_>,
        resumed: bool,
        read: &mut Result<Msg, Error>,
    ) -> bool {
        let me = running.index;
        let mut st = lock(&self.state);
        // `lead`: go on reading (the role is held); `own`: its own message is in the
        // mailbox, taken even when shutdown began meanwhile.
        let (mut lead, mut own) = (false, false);
        if resumed {
            if st.closed {
                // Closed while a Ping was answered: nobody reads any more.
                st.role = Role::Free;
            } else {
                lead = true;
            }
        }
        loop {
            if !lead {
                if st.closed && !own {
                    *read = Err(Error::Eof);
                    return true;
                }
                own = false;
                if self.take_mail(&mut st, running, read) {
                    return true;
                }
                if st.role != Role::Free {
                    st.waiting[me] += 1;
                    st = self.proto_cv[me]
                        .wait(st)
                        .unwrap_or_else(PoisonError::into_inner);
                    st.waiting[me] -= 1;
                    continue;
                }
                st.role = Role::Reading;
            }
            lead = false;
            st = match self.read_until_message(st, ctx, Some(me)) {
                Some(st) => st,
                None => return false,
            };
            match st.role {
                // Its own message: taken at once (above), even when shutdown began
                // meanwhile.
                Role::Pending(i) if i == me => own = true,
                Role::Reading => {
                    // Closed after a frame it handled: nobody reads any more.
                    st.role = Role::Free;
                }
                _ => {}
            }
        }
    }

    /// Takes `running`'s message from its mailbox into `read`, if there is one (then the
    /// role is free: invariant 3), its code made relative to the protocol's offset and
    /// counted in. Not inlined: the frames under which the transport reads stay small.
    #[inline(never)]
    fn take_mail(&self, st: &mut State, running: &Running, read: &mut Result<Msg, Error>) -> bool {
        let Some(mut msg) = st.mailbox[running.index].take() else {
            return false;
        };
        st.role = Role::Free;
        self.hand_on(st, msg.size < EAGER_HAND_ON_SIZE);
        running.counters.count_in(msg.size);
        msg.code -= running.offset;
        *read = Ok(msg);
        true
    }

    /// The standby reader (invariant 4): reads whenever the role is free and no protocol
    /// waits, until shutdown or the reader's end.
    ///
    /// Leaves after [`STANDBY_LINGER`] without being needed (invariant 4a).
    pub(super) fn standby(&self, ctx: &ReadCtx<'_>) {
        let mut st = lock(&self.state);
        st.standby = Standby::Active;
        let mut busy = false;
        loop {
            if st.closed || st.role == Role::Dead {
                return;
            }
            if st.role == Role::Free && !st.protocols_waiting() {
                st.role = Role::Reading;
                st = loop {
                    match self.read_until_message(st, ctx, None) {
                        Some(next) => break next,
                        None => {
                            Reading::ping(ctx);
                            let next = lock(&self.state);
                            if next.closed || next.protocols_waiting() {
                                break next;
                            }
                            st = next;
                        }
                    }
                };
                if st.role == Role::Reading {
                    // Shut down, or a protocol waits to lead: it takes the role.
                    st.role = Role::Free;
                    self.hand_on(&mut st, false);
                }
                busy = true;
                continue;
            }
            if busy {
                st.standby = Standby::Busy;
                let timed_out;
                (st, timed_out) = wait_for(&self.standby_cv, st, STANDBY_GRACE);
                st.standby = Standby::Active;
                // A full grace period with the role held or pending: the peer is idle or a
                // protocol leads; wait without a deadline until the role is freed.
                busy = !(timed_out && st.role != Role::Free);
            } else {
                st.standby = Standby::Idle;
                let timed_out;
                (st, timed_out) = wait_for(&self.standby_cv, st, STANDBY_LINGER);
                if timed_out && (st.role != Role::Free || st.protocols_waiting()) {
                    // Not needed for a whole linger period: leave. Whoever frees the role
                    // next sees `Gone` under this lock and asks for a new standby.
                    st.standby = Standby::Gone;
                    return;
                }
                st.standby = Standby::Active;
            }
        }
    }
}

/// Locks `m`, as parking_lot's locks do: nothing that runs under these locks panics (the
/// transport's read runs without them, and its panics are caught), so a poisoned lock's
/// state is taken as it is.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits on `cv` with `st` for at most `timeout`: the lock again, and whether the time
/// ran out.
fn wait_for<'a>(
    cv: &Condvar,
    st: MutexGuard<'a, State>,
    timeout: Duration,
) -> (MutexGuard<'a, State>, bool) {
    let (st, result) = cv
        .wait_timeout(st, timeout)
        .unwrap_or_else(PoisonError::into_inner);
    (st, result.timed_out())
}

/// What a reader needs besides the state (small: it is on the stack of every read).
pub(super) struct ReadCtx<'a> {
    pub(super) transport: &'a dyn Transport,
    /// The peer: its protocols, the Pong requests to the supervisor, its shutdown, and the
    /// control-write state for the Pongs the reader writes itself.
    pub(super) peer: &'a Inner,
}
