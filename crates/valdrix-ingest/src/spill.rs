//! Spilling a rollup to disk, so that its memory stays bounded whatever the size of the input.
//!
//! When a rollup holds its budget of records, it sorts them by charge day and key and writes them
//! to an anonymous temporary file (a *run*), then starts again empty; its interned texts stay in
//! memory. Runs are in input order. Sealing merges the runs: equal keys are summed exactly, and a
//! record keeps the descriptive columns of its earliest run (of its first line, as without
//! spilling). The merged records go to one more file of fixed-size entries that the store then
//! reads by position, day by day: nothing of size proportional to the input stays in memory but
//! the interned texts and one number per record's series.

use rust_decimal::Decimal;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

use valdrix_core::Totals;

use crate::rollup::Key;

/// Bytes of one entry on disk: key (15 × 4), attribute set (4), series (4), four sums (4 × 16),
/// two optional quantities (2 × 17), line count (8), padding (2).
pub(crate) const ENTRY_BYTES: usize = 176;

/// A record as spilled: its key, attribute set, series number (after sealing) and sums.
#[derive(Clone)]
pub(crate) struct SpilledEntry {
    pub key: Key,
    pub attrs: u32,
    pub series: u32,
    pub totals: Totals,
}

/// The order of runs and sealed records: charge day first (the store writes day by day), then the
/// rest of the key.
pub(crate) fn order(k: &Key) -> (u32, &Key) {
    (k[3], k)
}

fn put_dec(buf: &mut [u8], d: Decimal) {
    buf[..16].copy_from_slice(&d.serialize());
}

fn get_dec(buf: &[u8]) -> Decimal {
    let mut b = [0u8; 16];
    b.copy_from_slice(&buf[..16]);
    Decimal::deserialize(b)
}

fn put_opt(buf: &mut [u8], d: Option<Decimal>) {
    buf[0] = d.is_some() as u8;
    put_dec(&mut buf[1..], d.unwrap_or_default());
}

fn get_opt(buf: &[u8]) -> Option<Decimal> {
    (buf[0] == 1).then(|| get_dec(&buf[1..]))
}

fn encode(e: &SpilledEntry, buf: &mut [u8; ENTRY_BYTES]) {
    for (slot, v) in e.key.iter().enumerate() {
        buf[slot * 4..slot * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    buf[60..64].copy_from_slice(&e.attrs.to_le_bytes());
    buf[64..68].copy_from_slice(&e.series.to_le_bytes());
    let t = &e.totals;
    put_dec(&mut buf[68..], t.billed_cost);
    put_dec(&mut buf[84..], t.effective_cost);
    put_dec(&mut buf[100..], t.list_cost);
    put_dec(&mut buf[116..], t.contracted_cost);
    put_opt(&mut buf[132..], t.consumed_quantity);
    put_opt(&mut buf[149..], t.pricing_quantity);
    buf[166..174].copy_from_slice(&t.line_count.to_le_bytes());
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

fn decode(buf: &[u8]) -> SpilledEntry {
    let key: Key = std::array::from_fn(|slot| u32_at(buf, slot * 4));
    let mut line_count = [0u8; 8];
    line_count.copy_from_slice(&buf[166..174]);
    SpilledEntry {
        key,
        attrs: u32_at(buf, 60),
        series: u32_at(buf, 64),
        totals: Totals {
            billed_cost: get_dec(&buf[68..]),
            effective_cost: get_dec(&buf[84..]),
            list_cost: get_dec(&buf[100..]),
            contracted_cost: get_dec(&buf[116..]),
            consumed_quantity: get_opt(&buf[132..]),
            pricing_quantity: get_opt(&buf[149..]),
            line_count: u64::from_le_bytes(line_count),
        },
    }
}

/// Records sorted by [`order`], in a temporary file that disappears when dropped.
pub(crate) struct Run {
    file: File,
    len: usize,
}

impl Run {
    /// Writes entries, which must already be sorted by [`order`]; they are built one at a time,
    /// so spilling needs no second copy of the records.
    pub(crate) fn write(entries: impl Iterator<Item = SpilledEntry>) -> io::Result<Run> {
        let file = tempfile::tempfile()?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut buf = [0u8; ENTRY_BYTES];
        let mut len = 0;
        for e in entries {
            encode(&e, &mut buf);
            out.write_all(&buf)?;
            len += 1;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        Ok(Run { file, len })
    }

    /// Number of records.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Reads the records back in order.
    pub(crate) fn reader(&self) -> io::Result<RunReader> {
        use std::io::Seek;
        let mut file = self.file.try_clone()?;
        file.seek(io::SeekFrom::Start(0))?;
        Ok(RunReader { input: BufReader::with_capacity(1 << 20, file), left: self.len })
    }
}

/// Sequential reader of a [`Run`].
pub(crate) struct RunReader {
    input: BufReader<File>,
    left: usize,
}

impl RunReader {
    /// The next record, or `None` at the end.
    pub(crate) fn next_entry(&mut self) -> io::Result<Option<SpilledEntry>> {
        if self.left == 0 {
            return Ok(None);
        }
        let mut buf = [0u8; ENTRY_BYTES];
        self.input.read_exact(&mut buf)?;
        self.left -= 1;
        Ok(Some(decode(&buf)))
    }
}

/// What a merge of runs produced.
pub(crate) struct Merged {
    /// The records, each with its series number.
    pub records: SealedRecords,
}

/// Merges runs (in input order) into one sorted file where equal keys are summed, a record keeps
/// the attribute set of its earliest run, and each record carries the number of its series
/// (records whose key differs only by day), numbered in order of first appearance.
pub(crate) fn merge_runs(runs: &[Run]) -> io::Result<Merged> {
    let mut readers = runs.iter().map(Run::reader).collect::<io::Result<Vec<_>>>()?;
    // Heap of (day and key, run): equal keys come out earliest run first.
    let mut heads: Vec<Option<SpilledEntry>> = Vec::with_capacity(readers.len());
    let mut heap = BinaryHeap::new();
    for (run, r) in readers.iter_mut().enumerate() {
        let head = r.next_entry()?;
        if let Some(e) = &head {
            heap.push(std::cmp::Reverse(((e.key[3], e.key), run)));
        }
        heads.push(head);
    }
    let file = tempfile::tempfile()?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut buf = [0u8; ENTRY_BYTES];
    let mut series: HashMap<Key, u32> = HashMap::new();
    let mut len = 0usize;
    let mut current: Option<SpilledEntry> = None;
    let mut flush = |e: SpilledEntry, len: &mut usize, out: &mut BufWriter<File>| -> io::Result<()> {
        let mut e = e;
        let next = series.len() as u32;
        e.series = *series.entry(crate::rollup::series_of(&e.key)).or_insert(next);
        encode(&e, &mut buf);
        out.write_all(&buf)?;
        *len += 1;
        Ok(())
    };
    while let Some(std::cmp::Reverse((_, run))) = heap.pop() {
        let Some(e) = heads[run].take() else { continue };
        heads[run] = readers[run].next_entry()?;
        if let Some(n) = &heads[run] {
            heap.push(std::cmp::Reverse(((n.key[3], n.key), run)));
        }
        match &mut current {
            Some(c) if c.key == e.key => c.totals.add_totals(&e.totals),
            _ => {
                if let Some(done) = current.replace(e) {
                    flush(done, &mut len, &mut out)?;
                }
            }
        }
    }
    if let Some(done) = current.take() {
        flush(done, &mut len, &mut out)?;
    }
    let file = out.into_inner().map_err(|e| e.into_error())?;
    Ok(Merged { records: SealedRecords { file, len, block: Mutex::new((usize::MAX, Vec::new())) } })
}

/// Entries per block read at once by [`SealedRecords`].
const BLOCK_ENTRIES: usize = 512;

/// The merged records of a spilled rollup, read by position. The store reads them nearly in
/// order, so one block of entries is kept and most reads touch no file.
pub(crate) struct SealedRecords {
    file: File,
    len: usize,
    block: Mutex<(usize, Vec<u8>)>,
}

impl SealedRecords {
    /// Number of records.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Record `i`. A failing read of the temporary file (removed under us, disk errors) cannot
    /// be recovered from mid-write; it panics with the reason, and the store's transaction rolls
    /// back when the process ends.
    pub(crate) fn get(&self, i: usize) -> SpilledEntry {
        let block_no = i / BLOCK_ENTRIES;
        let mut block = self.block.lock().unwrap_or_else(|p| p.into_inner());
        if block.0 != block_no {
            let first = block_no * BLOCK_ENTRIES;
            let count = BLOCK_ENTRIES.min(self.len - first);
            block.1.resize(count * ENTRY_BYTES, 0);
            if let Err(e) = self.file.read_exact_at(&mut block.1, (first * ENTRY_BYTES) as u64) {
                panic!("reading the rollup's temporary file: {e}");
            }
            block.0 = block_no;
        }
        let at = (i % BLOCK_ENTRIES) * ENTRY_BYTES;
        decode(&block.1[at..at + ENTRY_BYTES])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn entry(day: u32, id: u32, billed: &str, attrs: u32) -> SpilledEntry {
        let mut key = [7u32; 15];
        key[3] = day;
        key[0] = id;
        SpilledEntry {
            key,
            attrs,
            series: 0,
            totals: Totals {
                billed_cost: Decimal::from_str(billed).unwrap(),
                effective_cost: Decimal::from_str("-0.0000000000000000001").unwrap(),
                list_cost: Decimal::ZERO,
                contracted_cost: Decimal::from_str("123456789012345678.0123456789").unwrap(),
                consumed_quantity: Some(Decimal::from_str("1.5").unwrap()),
                pricing_quantity: None,
                line_count: 1,
            },
        }
    }

    #[test]
    fn entries_survive_the_disk_exactly() {
        let e = entry(3, 1, "12.3456789012345678901", 9);
        let mut buf = [0u8; ENTRY_BYTES];
        encode(&e, &mut buf);
        let back = decode(&buf);
        assert_eq!(back.key, e.key);
        assert_eq!(back.attrs, 9);
        assert_eq!(back.totals, e.totals);
    }

    #[test]
    fn runs_merge_summing_equal_keys_and_keeping_the_earliest_attributes() {
        let first = Run::write([entry(1, 1, "1", 10), entry(2, 1, "2", 11)].into_iter()).unwrap();
        let second =
            Run::write([entry(1, 1, "4", 20), entry(1, 2, "8", 21), entry(3, 1, "16", 22)].into_iter()).unwrap();
        let merged = merge_runs(&[first, second]).unwrap();
        let r = &merged.records;
        let got: Vec<(u32, u32, String, u32, u32)> = (0..r.len())
            .map(|i| {
                let e = r.get(i);
                (e.key[3], e.key[0], e.totals.billed_cost.to_string(), e.attrs, e.series)
            })
            .collect();
        assert_eq!(
            got,
            [
                (1, 1, "5".to_string(), 10, 0),
                (1, 2, "8".to_string(), 21, 1),
                (2, 1, "2".to_string(), 11, 0),
                (3, 1, "16".to_string(), 22, 0)
            ]
        );
        assert_eq!(r.get(0).totals.line_count, 2);
    }
}
