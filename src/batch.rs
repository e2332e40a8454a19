//! A batch of IP packets packed back to back in one reusable buffer.
//!
//! TUN reads fill a batch that crosses to the event loop as one unit, and
//! decrypted packets are gathered in one before being written to the TUN.
//! A batch allocates only when created; clearing keeps the memory, so the
//! steady state allocates nothing per packet.

/// See the module docs.
#[derive(Debug)]
pub struct PacketBatch {
    arena: Vec<u8>,
    used: usize,
    /// (offset, length) of each packet in `arena`.
    packets: Vec<(usize, usize)>,
    max_packets: usize,
}

impl PacketBatch {
    /// A batch of at most `max_packets` packets and `capacity` bytes in all.
    pub fn new(max_packets: usize, capacity: usize) -> Self {
        Self {
            arena: vec![0; capacity],
            used: 0,
            packets: Vec::with_capacity(max_packets),
            max_packets,
        }
    }

    /// Free bytes for the next packet; empty once `max_packets` is reached.
    pub fn tail(&mut self) -> &mut [u8] {
        if self.packets.len() == self.max_packets {
            return &mut [];
        }
        &mut self.arena[self.used..]
    }

    /// How many bytes [`Self::tail`] offers.
    pub fn room(&self) -> usize {
        if self.packets.len() == self.max_packets {
            0
        } else {
            self.arena.len() - self.used
        }
    }

    /// Adds the `len` bytes written at the start of [`Self::tail`] as a packet.
    ///
    /// # Panics
    /// If `len` exceeds [`Self::room`] (a caller bug).
    pub fn commit(&mut self, len: usize) {
        assert!(len <= self.room(), "PacketBatch::commit beyond room");
        if len == 0 {
            return;
        }
        self.packets.push((self.used, len));
        self.used += len;
    }

    /// Copies `packet` in; `false` when it does not fit.
    pub fn push(&mut self, packet: &[u8]) -> bool {
        let Some(tail) = self.tail().get_mut(..packet.len()) else {
            return false;
        };
        tail.copy_from_slice(packet);
        self.commit(packet.len());
        true
    }

    /// Whether the batch may take another packet of `len` bytes.
    pub fn has_room_for(&self, len: usize) -> bool {
        self.room() >= len
    }

    /// The packets, in the order they were added.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.packets
            .iter()
            .map(|&(off, len)| &self.arena[off..off + len])
    }

    /// Number of packets.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether there are no packets.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Removes the first `n` packets (after they were written out).
    pub fn consume(&mut self, n: usize) {
        if n >= self.packets.len() {
            self.clear();
        } else {
            self.packets.drain(..n);
        }
    }

    /// Passes every packet, in order, to `sink`, then empties the batch;
    /// returns how many there were.
    pub fn drain_into(&mut self, mut sink: impl FnMut(&[u8])) -> usize {
        let n = self.len();
        for packet in self.iter() {
            sink(packet);
        }
        self.clear();
        n
    }

    /// Empties the batch, keeping its memory.
    pub fn clear(&mut self) {
        self.packets.clear();
        self.used = 0;
    }

    /// Bytes of memory the batch holds.
    pub fn capacity(&self) -> usize {
        self.arena.len()
    }
}

/// The node decrypts straight into the batch's tail.
impl crate::node::PacketSink for PacketBatch {
    fn tail(&mut self) -> &mut [u8] {
        PacketBatch::tail(self)
    }
    fn commit(&mut self, len: usize) {
        PacketBatch::commit(self, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_come_back_in_order_and_clear_keeps_memory() {
        let mut b = PacketBatch::new(4, 100);
        assert!(b.push(&[1, 2, 3]));
        b.tail()[..2].copy_from_slice(&[4, 5]);
        b.commit(2);
        let got: Vec<&[u8]> = b.iter().collect();
        assert_eq!(got, vec![&[1, 2, 3][..], &[4, 5][..]]);
        b.consume(1);
        assert_eq!(b.iter().next().unwrap(), &[4, 5]);
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.room(), 100);
    }

    #[test]
    fn commit_from_moves_the_packet_to_the_tail_start_and_refuses_ranges_outside() {
        use crate::node::PacketSink as _;
        let mut b = PacketBatch::new(4, 16);
        b.tail()[4..8].copy_from_slice(&[1, 2, 3, 4]);
        assert!(b.commit_from(4..8));
        assert!(!b.commit_from(10..20));
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![&[1, 2, 3, 4][..]]);
        assert_eq!(b.room(), 12);
    }

    #[test]
    fn the_packet_limit_closes_the_batch() {
        let mut b = PacketBatch::new(2, 100);
        assert!(b.push(&[1]));
        assert!(b.push(&[2]));
        assert_eq!(b.room(), 0);
        assert!(!b.push(&[3]));
        assert_eq!(b.len(), 2);
    }
}
