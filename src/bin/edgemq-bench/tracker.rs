//! Per-publisher accounting of what a subscriber received: every sequence
//! number is expected exactly once and in increasing order.
//!
//! A bitmap per publisher tells a repeat (duplicate) from a late arrival
//! (out of order); lost is what was sent and never arrived at all. The
//! members of a shared subscription each keep one and are merged after the
//! run: a message that reached two members is a duplicate of the group.

pub struct Tracker {
    publishers: Vec<Stream>,
    /// Payloads without a valid stamp or from an unknown publisher.
    pub foreign: u64,
}

#[derive(Default)]
struct Stream {
    seen: Vec<u64>,
    distinct: u64,
    /// One past the highest sequence number seen.
    next: u64,
    duplicated: u64,
    out_of_order: u64,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub received: u64,
    pub distinct: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
}

impl Counts {
    pub fn add(&mut self, other: Counts) {
        self.received += other.received;
        self.distinct += other.distinct;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.out_of_order += other.out_of_order;
    }
}

impl Tracker {
    /// Tracks `publishers` streams of `per_publisher` messages each.
    pub fn new(publishers: usize, per_publisher: u64) -> Tracker {
        let words = usize::try_from(per_publisher.div_ceil(64)).unwrap_or(0);
        Tracker {
            publishers: (0..publishers)
                .map(|_| Stream {
                    seen: vec![0; words],
                    ..Stream::default()
                })
                .collect(),
            foreign: 0,
        }
    }

    pub fn record(&mut self, publisher: u32, seq: u64) {
        let stream = usize::try_from(publisher)
            .ok()
            .and_then(|p| self.publishers.get_mut(p));
        let Some(stream) = stream else {
            self.foreign += 1;
            return;
        };
        let word = usize::try_from(seq / 64)
            .ok()
            .and_then(|w| stream.seen.get_mut(w));
        let Some(word) = word else {
            self.foreign += 1;
            return;
        };
        let bit = 1u64 << (seq % 64);
        if *word & bit != 0 {
            stream.duplicated += 1;
            return;
        }
        *word |= bit;
        stream.distinct += 1;
        if seq < stream.next {
            stream.out_of_order += 1;
        } else {
            stream.next = seq + 1;
        }
    }

    /// Distinct messages received so far, over all publishers.
    pub fn distinct(&self) -> u64 {
        self.publishers.iter().map(|s| s.distinct).sum()
    }

    /// Folds in what another member of the same shared subscription
    /// received, as if one subscriber had: a message both saw is distinct
    /// once and duplicated once. Order stays a per-member count: a group
    /// promises none across its members.
    pub fn merge(&mut self, other: &Tracker) {
        for (mine, theirs) in self.publishers.iter_mut().zip(&other.publishers) {
            let mut overlap = 0u64;
            for (a, b) in mine.seen.iter_mut().zip(&theirs.seen) {
                overlap += u64::from((*a & *b).count_ones());
                *a |= *b;
            }
            mine.distinct += theirs.distinct.saturating_sub(overlap);
            mine.duplicated += theirs.duplicated + overlap;
            mine.out_of_order += theirs.out_of_order;
            mine.next = mine.next.max(theirs.next);
        }
        self.foreign += other.foreign;
    }

    /// Totals over all publishers, given how many each one sent.
    pub fn counts(&self, sent_per_publisher: &[u64]) -> Counts {
        let mut total = Counts::default();
        for (i, s) in self.publishers.iter().enumerate() {
            let sent = sent_per_publisher.get(i).copied().unwrap_or(0);
            total.add(Counts {
                received: s.distinct + s.duplicated,
                distinct: s.distinct,
                lost: sent.saturating_sub(s.distinct),
                duplicated: s.duplicated,
                out_of_order: s.out_of_order,
            });
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_repeats_and_late_arrivals() {
        let mut t = Tracker::new(2, 10);
        for seq in [0, 1, 3, 2, 3, 5] {
            t.record(0, seq);
        }
        t.record(1, 0);
        t.record(5, 0);
        let c = t.counts(&[6, 1]);
        assert_eq!(c.distinct, 6);
        assert_eq!(c.lost, 1); // seq 4
        assert_eq!(c.duplicated, 1);
        assert_eq!(c.out_of_order, 1); // 2 after 3
        assert_eq!(t.foreign, 1);
    }

    #[test]
    fn a_message_at_two_members_is_a_duplicate_of_the_group() {
        // Publisher 0 sent 0..6, publisher 1 sent 0..2, round robin over
        // two members; seq 3 of publisher 0 reached both, 5 reached neither,
        // and member b saw its own seq 4 twice.
        let mut a = Tracker::new(2, 100);
        let mut b = Tracker::new(2, 100);
        for seq in [0, 2, 3] {
            a.record(0, seq);
        }
        for seq in [1, 3, 4, 4] {
            b.record(0, seq);
        }
        a.record(1, 1);
        b.record(1, 0);
        // Beyond the first bitmap word, so the merge covers every word.
        a.record(0, 70);
        b.record(0, 70);
        let sent = [71, 2];
        let members = a.counts(&sent).received + b.counts(&sent).received;
        a.merge(&b);
        let c = a.counts(&sent);
        assert_eq!(c.received, members);
        assert_eq!(c.received, 11);
        assert_eq!(c.distinct, 8); // 0..=4 and 70 of publisher 0, 0 and 1 of 1
        assert_eq!(c.duplicated, 3); // 3 and 70 at both members, 4 twice at b
        assert_eq!(c.lost, 71 - 6); // 5..70 of publisher 0
        assert_eq!(c.out_of_order, 0); // each member saw its share in order
        assert_eq!(a.distinct(), 8);
    }

    #[test]
    fn members_that_split_the_stream_add_up_to_all_of_it() {
        let mut a = Tracker::new(1, 1000);
        let mut b = Tracker::new(1, 1000);
        for seq in 0..1000 {
            if seq % 3 == 0 {
                a.record(0, seq);
            } else {
                b.record(0, seq);
            }
        }
        a.merge(&b);
        let c = a.counts(&[1000]);
        assert_eq!((c.distinct, c.lost, c.duplicated), (1000, 0, 0));
    }
}
