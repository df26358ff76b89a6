//! A read-only hash table from object id to a `u32`, laid out for lookups
//! that miss the CPU cache as little as possible: open addressing with
//! linear probing over 16-byte slots that hold short ids inline, so finding
//! an id usually reads one cache line. (A general map keeps its control
//! bytes, its slots and the id text in three places: three or four misses
//! per lookup on a table of a million ids, which was a quarter of a batch
//! check's time.)
//!
//! Sized once for the ids it will hold, at most 70% full (between 23 and 46
//! bytes per id): probe runs stay short. Ids longer than `INLINE` bytes live
//! in one shared string.

use std::hash::BuildHasher;

const INLINE: usize = 11;
/// `len` of a slot whose id is in `long_ids` (inline ids are shorter).
const LONG: u8 = u8::MAX;
const EMPTY: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Slot {
    value: u32,
    len: u8,
    /// The id itself, or (start, length) in `long_ids` as little-endian u32s.
    bytes: [u8; INLINE],
}

const VACANT: Slot = Slot {
    value: EMPTY,
    len: 0,
    bytes: [0; INLINE],
};

pub struct IdTable {
    slots: Vec<Slot>,
    mask: usize,
    long_ids: String,
    hasher: std::hash::RandomState,
}

impl IdTable {
    /// A table for up to `ids` distinct ids.
    pub fn with_capacity(ids: usize) -> Self {
        let size = (ids.max(8) * 10).div_ceil(7).next_power_of_two();
        Self {
            slots: vec![VACANT; size],
            mask: size - 1,
            long_ids: String::new(),
            hasher: std::hash::RandomState::new(),
        }
    }

    pub fn hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    /// Adds an id not yet in the table. `value` must not be `u32::MAX`, and
    /// the table must have been sized for it: both are the builder's promise.
    pub fn insert(&mut self, id: &str, value: u32) {
        debug_assert_ne!(value, EMPTY);
        let mut i = self.hash(id) as usize & self.mask;
        while self.slots[i].value != EMPTY {
            i = (i + 1) & self.mask;
        }
        let mut slot = Slot {
            value,
            len: 0,
            bytes: [0; INLINE],
        };
        if id.len() <= INLINE {
            slot.len = id.len() as u8;
            slot.bytes[..id.len()].copy_from_slice(id.as_bytes());
        } else {
            slot.len = LONG;
            let start = self.long_ids.len() as u32;
            self.long_ids.push_str(id);
            slot.bytes[..4].copy_from_slice(&start.to_le_bytes());
            slot.bytes[4..8].copy_from_slice(&(id.len() as u32).to_le_bytes());
        }
        self.slots[i] = slot;
    }

    /// Reads the slot where a lookup of `hash` starts, so that lookups done
    /// after a batch of these find their lines in the cache: the reads of a
    /// batch do not wait on each other, the probes' do.
    pub fn touch(&self, hash: u64) -> u32 {
        self.slots[hash as usize & self.mask].value
    }

    #[cfg(test)]
    pub fn get(&self, id: &str) -> Option<u32> {
        self.get_hashed(self.hash(id), id)
    }

    /// `get` with the id's hash already computed by `hash`.
    pub fn get_hashed(&self, hash: u64, id: &str) -> Option<u32> {
        let mut i = hash as usize & self.mask;
        loop {
            let slot = &self.slots[i];
            if slot.value == EMPTY {
                return None;
            }
            if self.id_of(slot) == id.as_bytes() {
                return Some(slot.value);
            }
            i = (i + 1) & self.mask;
        }
    }

    fn id_of<'a>(&'a self, slot: &'a Slot) -> &'a [u8] {
        if slot.len == LONG {
            let word = |at: usize| {
                let mut b = [0u8; 4];
                b.copy_from_slice(&slot.bytes[at..at + 4]);
                u32::from_le_bytes(b) as usize
            };
            let (start, len) = (word(0), word(4));
            &self.long_ids.as_bytes()[start..start + len]
        } else {
            &slot.bytes[..slot.len as usize]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_short_and_long_ids_and_nothing_else() {
        let ids: Vec<String> = (0..5000)
            .map(|i| match i % 3 {
                0 => i.to_string(),
                1 => format!("a-rather-long-identifier-{i}"),
                _ => format!("é{i}"),
            })
            .collect();
        let mut table = IdTable::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            table.insert(id, i as u32);
        }
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(table.get(id), Some(i as u32), "{id}");
            let h = table.hash(id);
            table.touch(h);
            assert_eq!(table.get_hashed(h, id), Some(i as u32));
        }
        for missing in ["", "5000", "a-rather-long-identifier-5001", "é5002", "0 "] {
            assert_eq!(table.get(missing), None, "{missing:?}");
        }
        // Exactly INLINE bytes is still inline; one more is long.
        let mut table = IdTable::with_capacity(2);
        table.insert("12345678901", 1);
        table.insert("123456789012", 2);
        assert_eq!(table.get("12345678901"), Some(1));
        assert_eq!(table.get("123456789012"), Some(2));
        assert_eq!(table.get("1234567890"), None);
        assert_eq!(table.long_ids, "123456789012");
    }

    #[test]
    fn a_table_is_at_most_seventy_percent_full() {
        for ids in [1, 700_000, 734_003, 1_000_000] {
            let table = IdTable::with_capacity(ids);
            assert!(ids * 10 <= table.slots.len() * 7, "{ids}");
            assert!(ids * 20 > table.slots.len() * 7 || ids < 8, "{ids}");
        }
        assert_eq!(std::mem::size_of::<Slot>(), 16);
    }
}
