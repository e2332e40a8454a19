//! Flow-fair queueing with an active queue manager (FQ-CoDel, RFC 8290), for
//! packets waiting inside the tunnel.
//!
//! Packets are spread over [`FLOWS`] queues by a seeded hash of their 5-tuple
//! (addresses, protocol, ports). Dequeueing is deficit round robin with one
//! [`FairQueue::quantum`] of bytes per turn, and flows that were idle go first
//! (the "new flows" list), so a sparse flow (a call, a game, DNS) never waits
//! behind a bulk flow's backlog. Each queue runs CoDel (RFC 8289) on the time
//! its head packet waited: when that stays above [`CodelParams::target`] for
//! [`CodelParams::interval`], packets are dropped (or, when the sender can
//! take it, ECN-marked) at a rate that grows until the queue drains, which is
//! the bulk flow's congestion signal. When the queue is full, the fattest flow
//! loses its oldest packet, never the newcomer of a sparse flow.
//!
//! Pure data structure: no IO, no clock of its own (every call takes `now`).
//! All memory is allocated by [`FairQueue::new`]; enqueueing and dequeueing
//! allocate nothing.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

/// Number of flow queues. Flows hashing to the same queue share it; 1024 (as
/// Linux's fq_codel) makes that rare for the few dozen flows of a phone.
pub const FLOWS: usize = 1024;

/// Most packets one overflow drops from the fattest flow (at most half of it).
const OVERFLOW_DROP_BATCH: u32 = 8;

/// Marks an empty link.
const NONE: u32 = u32::MAX;

/// CoDel's two knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodelParams {
    /// Acceptable standing queue delay.
    pub target: Duration,
    /// How long the delay may stay above `target` before dropping starts;
    /// about one round trip of the flows served.
    pub interval: Duration,
}

impl Default for CodelParams {
    /// RFC 8289's values for the Internet: 5 ms target, 100 ms interval.
    fn default() -> Self {
        Self {
            target: Duration::from_millis(5),
            interval: Duration::from_millis(100),
        }
    }
}

/// What the queue did besides passing packets through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FqStats {
    /// Packets CoDel dropped for standing delay.
    pub codel_drops: u64,
    /// Packets CoDel marked Congestion Experienced instead of dropping them.
    pub ecn_marks: u64,
    /// Packets dropped from the fattest flow because the queue was full.
    pub overflow_drops: u64,
    /// Packets too long for a slot (longer than the MTU the queue was made for).
    pub oversize_drops: u64,
}

impl FqStats {
    /// All packets the queue dropped.
    pub fn drops(&self) -> u64 {
        self.codel_drops + self.overflow_drops + self.oversize_drops
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum List {
    Idle,
    New,
    Old,
}

/// CoDel's per-queue state (RFC 8289 section 5).
#[derive(Clone, Copy, Debug)]
struct Codel {
    /// When the delay, above target since then, will have been so for an interval.
    first_above: Option<Instant>,
    dropping: bool,
    drop_next: Option<Instant>,
    count: u32,
    last_count: u32,
}

#[derive(Clone, Copy, Debug)]
struct Flow {
    head: u32,
    tail: u32,
    packets: u32,
    bytes: usize,
    deficit: i64,
    list: List,
    codel: Codel,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    len: u32,
    enqueued: Instant,
    next: u32,
}

/// See the module docs.
pub struct FairQueue {
    data: Box<[u8]>,
    slot_len: usize,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// The slot last handed out by `dequeue`, freed on the next call.
    lent: Option<u32>,
    flows: Vec<Flow>,
    new_flows: VecDeque<u16>,
    old_flows: VecDeque<u16>,
    packets: usize,
    quantum: i64,
    codel: CodelParams,
    seed: u64,
    stats: FqStats,
}

impl std::fmt::Debug for FairQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FairQueue")
            .field("capacity", &self.slots.len())
            .field("packets", &self.packets)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl FairQueue {
    /// A queue of `capacity` packets of up to `max_packet` bytes each
    /// (`capacity * max_packet` bytes, allocated now). `quantum` is the byte
    /// share a flow gets per round (one MTU); `seed` keys the flow hash, so
    /// an outsider cannot aim flows at one queue.
    ///
    /// # Panics
    /// If `capacity` is zero or does not fit a `u32` (a caller bug).
    pub fn new(
        capacity: usize,
        max_packet: usize,
        quantum: usize,
        codel: CodelParams,
        seed: u64,
    ) -> Self {
        assert!(
            capacity > 0 && capacity < NONE as usize,
            "FairQueue capacity"
        );
        let idle = Flow {
            head: NONE,
            tail: NONE,
            packets: 0,
            bytes: 0,
            deficit: 0,
            list: List::Idle,
            codel: Codel {
                first_above: None,
                dropping: false,
                drop_next: None,
                count: 0,
                last_count: 0,
            },
        };
        Self {
            data: vec![0; capacity * max_packet].into_boxed_slice(),
            slot_len: max_packet,
            slots: vec![
                Slot {
                    len: 0,
                    enqueued: Instant::now(),
                    next: NONE
                };
                capacity
            ],
            free: (0..capacity as u32).rev().collect(),
            lent: None,
            flows: vec![idle; FLOWS],
            new_flows: VecDeque::with_capacity(FLOWS),
            old_flows: VecDeque::with_capacity(FLOWS),
            packets: 0,
            quantum: quantum.max(1) as i64,
            codel,
            seed,
            stats: FqStats::default(),
        }
    }

    /// Bytes of memory the packet slots hold.
    pub fn capacity_bytes(&self) -> usize {
        self.data.len()
    }

    /// Packets waiting.
    pub fn len(&self) -> usize {
        self.packets
    }

    /// Whether no packet waits.
    pub fn is_empty(&self) -> bool {
        self.packets == 0
    }

    /// Counters since creation.
    pub fn stats(&self) -> FqStats {
        self.stats
    }

    /// The byte share per round.
    pub fn quantum(&self) -> usize {
        self.quantum as usize
    }

    /// Which flow queue `packet` goes to.
    pub fn flow_of(&self, packet: &[u8]) -> usize {
        let mut h = std::hash::DefaultHasher::new();
        self.seed.hash(&mut h);
        five_tuple(packet).hash(&mut h);
        (h.finish() % FLOWS as u64) as usize
    }

    /// Queues a copy of `packet`, which arrived at `now`. When the queue is
    /// full, the oldest packet of the flow holding the most bytes is dropped
    /// first (possibly this packet's own flow).
    pub fn push(&mut self, packet: &[u8], now: Instant) {
        self.release_lent();
        if packet.len() > self.slot_len {
            self.stats.oversize_drops += 1;
            return;
        }
        if self.free.is_empty() {
            // Finding the fattest flow scans every queue, so free a few slots at once.
            let fattest = (0..FLOWS)
                .max_by_key(|&f| self.flows[f].bytes)
                .expect("FLOWS > 0");
            let batch = (self.flows[fattest].packets / 2).clamp(1, OVERFLOW_DROP_BATCH);
            for _ in 0..batch {
                if let Some(slot) = self.pop_head(fattest) {
                    self.free.push(slot);
                    self.stats.overflow_drops += 1;
                }
            }
        }
        let Some(slot) = self.free.pop() else {
            return; // unreachable: a full queue has a fattest flow with a packet
        };
        let start = slot as usize * self.slot_len;
        self.data[start..start + packet.len()].copy_from_slice(packet);
        self.slots[slot as usize] = Slot {
            len: packet.len() as u32,
            enqueued: now,
            next: NONE,
        };
        let f = self.flow_of(packet);
        let flow = &mut self.flows[f];
        if flow.tail == NONE {
            flow.head = slot;
        } else {
            self.slots[flow.tail as usize].next = slot;
        }
        flow.tail = slot;
        flow.packets += 1;
        flow.bytes += packet.len();
        self.packets += 1;
        if flow.list == List::Idle {
            flow.list = List::New;
            flow.deficit = self.quantum;
            self.new_flows.push_back(f as u16);
        }
    }

    /// The next packet to send at `now`, in flow-fair order, after CoDel's
    /// drops. The slice (which may have been ECN-marked) stays valid until
    /// the next call on the queue.
    pub fn dequeue(&mut self, now: Instant) -> Option<&[u8]> {
        self.release_lent();
        loop {
            let (from_new, f) = if let Some(&f) = self.new_flows.front() {
                (true, f as usize)
            } else if let Some(&f) = self.old_flows.front() {
                (false, f as usize)
            } else {
                return None;
            };
            if self.flows[f].deficit <= 0 {
                self.flows[f].deficit += self.quantum;
                self.take_front(from_new);
                self.flows[f].list = List::Old;
                self.old_flows.push_back(f as u16);
                continue;
            }
            match self.codel_dequeue(f, now) {
                Some(slot) => {
                    let len = self.slots[slot as usize].len as usize;
                    self.flows[f].deficit -= len as i64;
                    self.lent = Some(slot);
                    let start = slot as usize * self.slot_len;
                    return Some(&self.data[start..start + len]);
                }
                None => {
                    // An emptied new flow goes to the old list once more, so a
                    // flow cannot stay "new" by sending one packet per round.
                    self.take_front(from_new);
                    if from_new && !self.old_flows.is_empty() {
                        self.flows[f].list = List::Old;
                        self.old_flows.push_back(f as u16);
                    } else {
                        self.flows[f].list = List::Idle;
                    }
                }
            }
        }
    }

    fn take_front(&mut self, from_new: bool) {
        if from_new {
            self.new_flows.pop_front();
        } else {
            self.old_flows.pop_front();
        }
    }

    fn release_lent(&mut self) {
        if let Some(slot) = self.lent.take() {
            self.free.push(slot);
        }
    }

    /// Unlinks flow `f`'s head slot (not freed).
    fn pop_head(&mut self, f: usize) -> Option<u32> {
        let flow = &mut self.flows[f];
        let slot = flow.head;
        if slot == NONE {
            return None;
        }
        let s = self.slots[slot as usize];
        flow.head = s.next;
        if flow.head == NONE {
            flow.tail = NONE;
        }
        flow.packets -= 1;
        flow.bytes -= s.len as usize;
        self.packets -= 1;
        Some(slot)
    }

    /// Pops flow `f`'s head and says whether CoDel may drop it: its wait has
    /// been above target for a whole interval (RFC 8289 `dodequeue`).
    fn codel_pop(&mut self, f: usize, now: Instant) -> Option<(u32, bool)> {
        let slot = self.pop_head(f)?;
        let waited = now.saturating_duration_since(self.slots[slot as usize].enqueued);
        let codel = self.codel;
        let flow = &mut self.flows[f];
        // Below target, or less than a packet left: no standing queue.
        if waited < codel.target || flow.bytes <= self.slot_len {
            flow.codel.first_above = None;
            return Some((slot, false));
        }
        match flow.codel.first_above {
            None => {
                flow.codel.first_above = Some(now + codel.interval);
                Some((slot, false))
            }
            Some(at) => Some((slot, now >= at)),
        }
    }

    /// RFC 8289's dequeue for flow `f`: drops (or marks) while the standing
    /// delay persists, at intervals shrinking with the square root of the count.
    fn codel_dequeue(&mut self, f: usize, now: Instant) -> Option<u32> {
        let Some((mut slot, mut ok_to_drop)) = self.codel_pop(f, now) else {
            self.flows[f].codel.dropping = false;
            return None;
        };
        let interval = self.codel.interval;
        if self.flows[f].codel.dropping {
            if !ok_to_drop {
                self.flows[f].codel.dropping = false;
            }
            while self.flows[f].codel.dropping
                && self.flows[f].codel.drop_next.is_some_and(|at| now >= at)
            {
                let c = &mut self.flows[f].codel;
                c.count += 1;
                c.drop_next = c.drop_next.map(|at| control_law(at, interval, c.count));
                if self.mark_ce(slot) {
                    return Some(slot);
                }
                self.drop_slot(slot);
                match self.codel_pop(f, now) {
                    Some((next, ok)) => (slot, ok_to_drop) = (next, ok),
                    None => {
                        self.flows[f].codel.dropping = false;
                        return None;
                    }
                }
                if !ok_to_drop {
                    self.flows[f].codel.dropping = false;
                }
            }
        } else if ok_to_drop {
            let c = &mut self.flows[f].codel;
            c.dropping = true;
            // Dropping again soon after the last episode: resume near its rate.
            let delta = c.count.saturating_sub(c.last_count);
            let recent = c
                .drop_next
                .is_some_and(|at| now.saturating_duration_since(at) < interval * 16);
            c.count = if delta > 1 && recent { delta } else { 1 };
            c.last_count = c.count;
            c.drop_next = Some(control_law(now, interval, c.count));
            if self.mark_ce(slot) {
                return Some(slot);
            }
            self.drop_slot(slot);
            return self.codel_pop(f, now).map(|(next, _)| next);
        }
        Some(slot)
    }

    fn drop_slot(&mut self, slot: u32) {
        self.free.push(slot);
        self.stats.codel_drops += 1;
    }

    /// Sets Congestion Experienced when the packet's sender is ECN-capable.
    fn mark_ce(&mut self, slot: u32) -> bool {
        let start = slot as usize * self.slot_len;
        let len = self.slots[slot as usize].len as usize;
        if set_ce(&mut self.data[start..start + len]) {
            self.stats.ecn_marks += 1;
            true
        } else {
            false
        }
    }
}

/// When the next drop is due: `interval / sqrt(count)` after `t`.
fn control_law(t: Instant, interval: Duration, count: u32) -> Instant {
    t + interval.div_f64(f64::from(count.max(1)).sqrt())
}

/// The bytes that identify a packet's flow: addresses, protocol and, for
/// unfragmented TCP and UDP, the ports. Anything unparsable is one flow.
fn five_tuple(packet: &[u8]) -> (&[u8], u8, &[u8]) {
    const NO_PORTS: &[u8] = &[];
    match packet.first().map(|b| b >> 4) {
        Some(4) if packet.len() >= 20 => {
            let ihl = usize::from(packet[0] & 0x0f) * 4;
            let proto = packet[9];
            let fragment = u16::from_be_bytes([packet[6], packet[7]]) & 0x1fff != 0;
            let ports = match proto {
                6 | 17 if !fragment => packet.get(ihl..ihl + 4).unwrap_or(NO_PORTS),
                _ => NO_PORTS,
            };
            (&packet[12..20], proto, ports)
        }
        Some(6) if packet.len() >= 40 => {
            let next = packet[6];
            let ports = match next {
                6 | 17 => packet.get(40..44).unwrap_or(NO_PORTS),
                _ => NO_PORTS,
            };
            (&packet[8..40], next, ports)
        }
        _ => (NO_PORTS, 0, NO_PORTS),
    }
}

/// Marks an ECN-capable (ECT(0) or ECT(1)) IP packet Congestion Experienced;
/// `false` for a packet whose sender did not ask for ECN.
fn set_ce(packet: &mut [u8]) -> bool {
    const CE: u8 = 0b11;
    match packet.first().map(|b| b >> 4) {
        Some(4) if packet.len() >= 20 => {
            let ecn = packet[1] & CE;
            if ecn == 0 || ecn == CE {
                return false;
            }
            let old = u16::from_be_bytes([packet[0], packet[1]]);
            packet[1] |= CE;
            let new = u16::from_be_bytes([packet[0], packet[1]]);
            // Incremental checksum update (RFC 1624): HC' = ~(~HC + ~m + m').
            let check = u16::from_be_bytes([packet[10], packet[11]]);
            let mut sum = u32::from(!check) + u32::from(!old) + u32::from(new);
            sum = (sum & 0xffff) + (sum >> 16);
            sum = (sum & 0xffff) + (sum >> 16);
            packet[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
            true
        }
        Some(6) if packet.len() >= 40 => {
            // Traffic class spans bytes 0 and 1; its ECN bits are 0x30 of byte 1.
            let ecn = (packet[1] >> 4) & CE;
            if ecn == 0 || ecn == CE {
                return false;
            }
            packet[1] |= CE << 4;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::testing::packet::checksum;

    const MTU: usize = 1420;

    /// An IPv4 UDP packet of `len` bytes from port `sport` with ECN bits `ecn`
    /// and a valid header checksum.
    fn udp4(sport: u16, len: usize, ecn: u8) -> Vec<u8> {
        let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        crate::testing::packet::ipv4_udp(src, dst, sport, ecn, 0, len)
    }

    fn queue(capacity: usize, seed: u64) -> FairQueue {
        FairQueue::new(capacity, MTU, MTU, CodelParams::default(), seed)
    }

    /// Source ports of a bulk and a sparse flow that land in different queues.
    fn two_flows(q: &FairQueue) -> (u16, u16) {
        let bulk = 40000;
        let sparse = (1..)
            .find(|&p| q.flow_of(&udp4(p, 64, 0)) != q.flow_of(&udp4(bulk, 64, 0)))
            .unwrap();
        (bulk, sparse)
    }

    fn sport(p: &[u8]) -> u16 {
        u16::from_be_bytes([p[20], p[21]])
    }

    #[test]
    fn a_sparse_packet_overtakes_a_bulk_backlog() {
        let t0 = Instant::now();
        let mut q = queue(256, 7);
        let (bulk, sparse) = two_flows(&q);
        for _ in 0..100 {
            q.push(&udp4(bulk, MTU, 0), t0);
        }
        // Served a while: the bulk flow is now an old flow.
        for _ in 0..10 {
            assert_eq!(sport(q.dequeue(t0).unwrap()), bulk);
        }
        q.push(&udp4(sparse, 84, 0), t0);
        assert_eq!(sport(q.dequeue(t0).unwrap()), sparse);
        assert_eq!(q.len(), 90);
    }

    #[test]
    fn backlogged_flows_share_bytes_equally() {
        let t0 = Instant::now();
        let mut q = queue(512, 3);
        let (a, b) = two_flows(&q);
        // Flow a sends full packets, flow b half-size ones: per round each
        // gets one quantum of bytes, so b sends two packets per one of a's.
        for _ in 0..100 {
            q.push(&udp4(a, MTU, 0), t0);
            q.push(&udp4(b, MTU / 2, 0), t0);
            q.push(&udp4(b, MTU / 2, 0), t0);
        }
        let mut bytes = [0usize; 2];
        for _ in 0..120 {
            let p = q.dequeue(t0).unwrap();
            bytes[usize::from(sport(p) == b)] += p.len();
        }
        let diff = bytes[0].abs_diff(bytes[1]);
        assert!(diff <= MTU, "{bytes:?}");
    }

    #[test]
    fn packets_of_one_flow_keep_their_order() {
        let t0 = Instant::now();
        let mut q = queue(64, 1);
        for len in 40..100 {
            q.push(&udp4(9, len, 0), t0);
        }
        for len in 40..100 {
            assert_eq!(q.dequeue(t0).unwrap().len(), len);
        }
        assert!(q.dequeue(t0).is_none());
        assert!(q.is_empty());
    }

    #[test]
    fn a_full_queue_drops_from_the_fattest_flow() {
        let t0 = Instant::now();
        let mut q = queue(8, 5);
        let (bulk, sparse) = two_flows(&q);
        for _ in 0..8 {
            q.push(&udp4(bulk, MTU, 0), t0);
        }
        q.push(&udp4(sparse, 84, 0), t0);
        // Half of the fattest flow goes (at most OVERFLOW_DROP_BATCH), oldest first.
        assert_eq!(q.stats().overflow_drops, 4);
        assert_eq!(q.len(), 5);
        let ports: Vec<u16> = std::iter::from_fn(|| q.dequeue(t0).map(sport)).collect();
        assert_eq!(ports.iter().filter(|&&p| p == sparse).count(), 1);
        assert_eq!(ports.iter().filter(|&&p| p == bulk).count(), 4);
    }

    #[test]
    fn a_short_wait_is_never_dropped() {
        let t0 = Instant::now();
        let mut q = queue(128, 2);
        // A steady queue of 100 packets, each waiting 4 ms (< 5 ms target), for 2 s.
        for i in 0..100 {
            q.push(&udp4(1, MTU, 0), t0 + Duration::from_micros(40 * i));
        }
        for i in 100..50_000u64 {
            let now = t0 + Duration::from_micros(40 * i);
            q.push(&udp4(1, MTU, 0), now);
            assert!(q.dequeue(now).is_some());
        }
        assert_eq!(q.stats().drops(), 0);
    }

    #[test]
    fn a_standing_queue_is_dropped_after_an_interval() {
        let t0 = Instant::now();
        let mut q = queue(512, 2);
        let ms = Duration::from_millis;
        // 200 packets waiting 20 ms each: above target from the first dequeue.
        for _ in 0..200 {
            q.push(&udp4(1, MTU, 0), t0);
        }
        let mut now = t0 + ms(20);
        let mut served = 0;
        // Within the first interval: no drop.
        while now < t0 + ms(119) {
            q.dequeue(now).unwrap();
            q.push(&udp4(1, MTU, 0), now - ms(20));
            served += 1;
            now += ms(1);
        }
        assert_eq!(q.stats().codel_drops, 0, "after {served} packets");
        // Past the interval: the first drop, then more, ever closer together.
        now = t0 + ms(121);
        q.dequeue(now).unwrap();
        assert_eq!(q.stats().codel_drops, 1);
        let mut drops_at = vec![];
        for _ in 0..400 {
            now += ms(1);
            q.push(&udp4(1, MTU, 0), now - ms(20));
            let before = q.stats().codel_drops;
            q.dequeue(now).unwrap();
            if q.stats().codel_drops > before {
                drops_at.push(now);
            }
        }
        assert!(drops_at.len() >= 4, "{drops_at:?}");
        let gaps: Vec<Duration> = drops_at.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.first() > gaps.last(), "{gaps:?}");
    }

    #[test]
    fn ecn_capable_packets_are_marked_not_dropped() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut q = queue(512, 2);
        for _ in 0..200 {
            q.push(&udp4(1, MTU, 0b10), t0);
        }
        let mut marked = None;
        for i in 0..150 {
            let now = t0 + ms(20 + i);
            let p = q.dequeue(now).unwrap();
            if p[1] & 0b11 == 0b11 {
                assert_eq!(checksum(&p[..20]), 0, "checksum still valid");
                marked = Some(i);
                break;
            }
        }
        assert!(marked.is_some());
        assert_eq!(q.stats().codel_drops, 0);
        assert_eq!(q.stats().ecn_marks, 1);
    }

    #[test]
    fn an_oversize_packet_is_counted_and_dropped() {
        let mut q = queue(4, 0);
        q.push(&vec![0x45; MTU + 1], Instant::now());
        assert!(q.is_empty());
        assert_eq!(q.stats().oversize_drops, 1);
    }

    #[test]
    fn ipv6_ports_and_ecn_are_read() {
        let mut p = vec![0u8; 60];
        p[0] = 0x60;
        p[1] = 0x10; // ECT(0)
        p[6] = 6;
        p[40..42].copy_from_slice(&1234u16.to_be_bytes());
        let mut other = p.clone();
        other[40..42].copy_from_slice(&1235u16.to_be_bytes());
        assert_ne!(five_tuple(&p), five_tuple(&other));
        assert!(set_ce(&mut p));
        assert_eq!(p[1] & 0x30, 0x30);
        assert!(!set_ce(&mut p), "already marked");
    }
}
