//! A binary delta that rebuilds an original file from the written one, for exact undo.
//!
//! [`diff`]`(old, new)` describes `old` as a sequence of ops on `new`: copy a range of `new`, or
//! literal bytes. [`apply`]`(new, delta)` gives `old` back. The delta records the lengths and a
//! 64-bit fingerprint of both inputs, so applying it to anything but the `new` it was made from,
//! or a damaged delta, is an error rather than a wrong file.
//!
//! The matcher is tuned to what a tag writer does to a file:
//! - the common prefix and suffix are copied whole (a tag region changed or resized at the start
//!   or the end);
//! - in between, a greedy matcher first tries to resume the previous alignment (new offset − old
//!   offset), then the final one (`new.len() − old.len()`) and 0, so a constant shift with small
//!   scattered changes (Ogg pages renumbered after repaginated headers, MP4 chunk offsets, a RIFF
//!   size field) costs a few bytes per change;
//! - only when those fail for 16 bytes does it look `old`'s next 32 bytes up in a hash index of
//!   `new`'s 32-byte blocks (built on first use), then extends the match backwards.
//!
//! It works on any two slices: a caller that strips a common prefix and suffix itself (streaming
//! them from disk) can diff and apply just the middles.
//!
//! Encoding ([`Delta::to_bytes`]): magic `MTD` + version byte 1; varints old length, new length;
//! u64 LE fingerprints of old and new; varint op count; per op a varint `len << 1 | kind`
//! (0 copy, 1 literal), then for a copy the zigzag varint of its offset minus the offset that
//! would continue the previous copy's alignment, for a literal its bytes.

/// One step of rebuilding `old` from `new`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Copy `len` bytes of `new` from `offset`.
    Copy { offset: u64, len: u64 },
    /// These bytes.
    Literal(Vec<u8>),
}

/// How to rebuild `old` from `new`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    old_len: u64,
    new_len: u64,
    old_sum: u64,
    new_sum: u64,
    ops: Vec<Op>,
}

/// Why a delta cannot be decoded or applied.
#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    /// The encoded delta is not one this version wrote, or is damaged.
    #[error("malformed delta: {0}")]
    Malformed(&'static str),
    /// The delta was not made from this `new`, or its result is not the recorded `old`.
    #[error("delta does not fit the file: {0}")]
    Mismatch(&'static str),
}

const MAGIC: &[u8; 4] = b"MTD\x01";
/// Block size of the hash index.
const BLOCK: usize = 32;
/// Shortest match worth a copy op when resuming a known alignment (a copy costs ~2 bytes).
const MIN_RESUME: usize = 4;
/// Literal run after which the hash index is consulted.
const LOOKUP_AFTER: usize = 16;
/// Multiplier of the rolling block hash.
const PRIME: u64 = 0x100_0000_01B3;

/// A fast 64-bit fingerprint (not cryptographic: it guards against applying to the wrong file).
pub fn fingerprint(data: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = 0x243F_6A88_85A3_08D3 ^ data.len() as u64;
    let chunks = data.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let mut w = [0u8; 8];
    w[..tail.len()].copy_from_slice(tail);
    h = (h.rotate_left(23) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    h ^ (h >> 31)
}

/// Length of the common prefix of `a` and `b`.
fn match_len(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 64 <= n && a[i..i + 64] == b[i..i + 64] {
        i += 64;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// Length of the common suffix of `a` and `b`.
fn suffix_len(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (&a[a.len() - n..], &b[b.len() - n..]);
    let mut i = 0;
    while i + 64 <= n && a[n - i - 64..n - i] == b[n - i - 64..n - i] {
        i += 64;
    }
    while i < n && a[n - 1 - i] == b[n - 1 - i] {
        i += 1;
    }
    i
}

/// Polynomial hash of a block (the rolling hash's starting value).
fn block_hash(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |h, &x| h.wrapping_mul(PRIME).wrapping_add(u64::from(x)))
}

/// Hash index of `new[start..end]`'s aligned 32-byte blocks: slot → block number + 1.
struct Index {
    start: usize,
    bits: u32,
    slots: Vec<u32>,
}

impl Index {
    fn new(new: &[u8], start: usize, end: usize) -> Index {
        let blocks = (end - start) / BLOCK;
        let bits = (blocks * 2).max(1024).next_power_of_two().trailing_zeros();
        let mut idx = Index { start, bits, slots: vec![0; 1 << bits] };
        // Block numbers are stored as u32: later blocks of a > 128 GiB middle are not indexed.
        for k in 0..blocks.min(u32::MAX as usize - 1) {
            let s = idx.slot(block_hash(&new[start + k * BLOCK..start + (k + 1) * BLOCK]));
            if idx.slots[s] == 0 {
                idx.slots[s] = k as u32 + 1;
            }
        }
        idx
    }

    fn slot(&self, h: u64) -> usize {
        (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - self.bits)) as usize
    }

    /// The offset in `new` of a block that may start with the bytes hashing to `h`.
    fn get(&self, h: u64) -> Option<usize> {
        let k = self.slots[self.slot(h)];
        (k != 0).then(|| self.start + (k as usize - 1) * BLOCK)
    }
}

/// Builds the op list, merging adjacent literals.
struct Ops(Vec<Op>);

impl Ops {
    fn literal(&mut self, b: &[u8]) {
        if b.is_empty() {
            return;
        }
        match self.0.last_mut() {
            Some(Op::Literal(l)) => l.extend_from_slice(b),
            _ => self.0.push(Op::Literal(b.to_vec())),
        }
    }

    fn copy(&mut self, offset: usize, len: usize) {
        if len > 0 {
            self.0.push(Op::Copy { offset: offset as u64, len: len as u64 });
        }
    }
}

/// Describes `old` in terms of `new`.
pub fn diff(old: &[u8], new: &[u8]) -> Delta {
    let mut ops = Ops(Vec::new());
    let pre = match_len(old, new);
    let suf = suffix_len(&old[pre..], &new[pre..]);
    let (old_end, new_end) = (old.len() - suf, new.len() - suf);
    ops.copy(0, pre);
    let d_final = new.len() as i64 - old.len() as i64;
    let mut d_prev = 0i64;
    let mut index: Option<Index> = None;
    // Rolling hash of old[i..i + BLOCK], valid while `rolling` is true.
    let (mut h, mut rolling) = (0u64, false);
    let top = PRIME.wrapping_pow(BLOCK as u32 - 1);
    let (mut i, mut lit) = (pre, pre);
    while i < old_end {
        let rest = &old[i..old_end];
        let mut found = None;
        for (n, d) in [d_prev, d_final, 0].into_iter().enumerate() {
            if (n == 1 && d == d_prev) || (n == 2 && (d == d_prev || d == d_final)) {
                continue;
            }
            let j = i as i64 + d;
            if j < 0 || j as usize >= new.len() {
                continue;
            }
            let l = match_len(rest, &new[j as usize..]);
            if l >= MIN_RESUME {
                found = Some((j as usize, l));
                break;
            }
        }
        if found.is_none() && i - lit >= LOOKUP_AFTER && rest.len() >= BLOCK {
            if !rolling {
                h = block_hash(&rest[..BLOCK]);
                rolling = true;
            }
            let idx = index.get_or_insert_with(|| Index::new(new, pre, new_end));
            if let Some(j) = idx.get(h) {
                let l = match_len(rest, &new[j..]);
                if l >= BLOCK {
                    found = Some((j, l));
                }
            }
        }
        match found {
            Some((j, l)) => {
                // Extend backwards into the pending literal.
                let back = (1..=(i - lit).min(j)).take_while(|&k| old[i - k] == new[j - k]).count();
                ops.literal(&old[lit..i - back]);
                ops.copy(j - back, l + back);
                d_prev = j as i64 - i as i64;
                i += l;
                lit = i;
                rolling = false;
            }
            None => {
                if rolling {
                    if i + BLOCK < old_end {
                        h = h.wrapping_sub(u64::from(old[i]).wrapping_mul(top)).wrapping_mul(PRIME).wrapping_add(u64::from(old[i + BLOCK]));
                    } else {
                        rolling = false;
                    }
                }
                i += 1;
            }
        }
    }
    ops.literal(&old[lit..old_end]);
    ops.copy(new_end, suf);
    Delta { old_len: old.len() as u64, new_len: new.len() as u64, old_sum: fingerprint(old), new_sum: fingerprint(new), ops: ops.0 }
}

/// Rebuilds `old` from `new`; fails if `delta` was not made from this `new`.
pub fn apply(new: &[u8], delta: &Delta) -> Result<Vec<u8>, DeltaError> {
    if new.len() as u64 != delta.new_len || fingerprint(new) != delta.new_sum {
        return Err(DeltaError::Mismatch("not the file the delta was made from"));
    }
    let mut out = Vec::new();
    let cap = usize::try_from(delta.old_len).map_err(|_| DeltaError::Malformed("result too large"))?;
    out.try_reserve_exact(cap).map_err(|_| DeltaError::Malformed("result too large"))?;
    for op in &delta.ops {
        match op {
            Op::Literal(b) => out.extend_from_slice(b),
            Op::Copy { offset, len } => {
                let r = usize::try_from(*offset)
                    .ok()
                    .zip(usize::try_from(*len).ok())
                    .and_then(|(o, l)| new.get(o..o.checked_add(l)?))
                    .ok_or(DeltaError::Mismatch("copy outside the file"))?;
                out.extend_from_slice(r);
            }
        }
        if out.len() as u64 > delta.old_len {
            return Err(DeltaError::Mismatch("result longer than recorded"));
        }
    }
    if out.len() as u64 != delta.old_len || fingerprint(&out) != delta.old_sum {
        return Err(DeltaError::Mismatch("result is not the recorded original"));
    }
    Ok(out)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a varint at `*pos` (at most 10 bytes, no overflow).
fn get_varint(b: &[u8], pos: &mut usize) -> Result<u64, DeltaError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let &byte = b.get(*pos).ok_or(DeltaError::Malformed("truncated"))?;
        *pos += 1;
        let bits = u64::from(byte & 0x7F);
        if shift == 63 && bits > 1 {
            return Err(DeltaError::Malformed("varint overflow"));
        }
        v |= bits << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(DeltaError::Malformed("varint overflow"))
}

fn get_u64(b: &[u8], pos: &mut usize) -> Result<u64, DeltaError> {
    let s = b.get(*pos..*pos + 8).ok_or(DeltaError::Malformed("truncated"))?;
    *pos += 8;
    let mut w = [0u8; 8];
    w.copy_from_slice(s);
    Ok(u64::from_le_bytes(w))
}

impl Delta {
    /// Length of the original (`old`).
    pub fn old_len(&self) -> u64 {
        self.old_len
    }

    /// Length of the file the delta applies to (`new`).
    pub fn new_len(&self) -> u64 {
        self.new_len
    }

    /// The ops, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The compact, versioned encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        put_varint(&mut out, self.old_len);
        put_varint(&mut out, self.new_len);
        out.extend(self.old_sum.to_le_bytes());
        out.extend(self.new_sum.to_le_bytes());
        put_varint(&mut out, self.ops.len() as u64);
        let (mut pos, mut d) = (0i128, 0i128);
        for op in &self.ops {
            match op {
                Op::Copy { offset, len } => {
                    put_varint(&mut out, len << 1);
                    let rel = i128::from(*offset) - (pos + d);
                    // Zigzag; offsets and positions are below 2^63, so `rel` fits in i64.
                    let rel = rel as i64;
                    put_varint(&mut out, ((rel << 1) ^ (rel >> 63)) as u64);
                    d = i128::from(*offset) - pos;
                    pos += i128::from(*len);
                }
                Op::Literal(b) => {
                    put_varint(&mut out, ((b.len() as u64) << 1) | 1);
                    out.extend(b);
                    pos += b.len() as i128;
                }
            }
        }
        out
    }

    /// Decodes [`Delta::to_bytes`]; checks that the ops fit the recorded lengths.
    pub fn from_bytes(b: &[u8]) -> Result<Delta, DeltaError> {
        if b.get(..4) != Some(&MAGIC[..]) {
            return Err(DeltaError::Malformed("not a melotag delta (version 1)"));
        }
        let mut at = 4;
        let old_len = get_varint(b, &mut at)?;
        let new_len = get_varint(b, &mut at)?;
        let old_sum = get_u64(b, &mut at)?;
        let new_sum = get_u64(b, &mut at)?;
        let count = get_varint(b, &mut at)?;
        if count > (b.len() - at) as u64 {
            return Err(DeltaError::Malformed("op count past the end"));
        }
        let mut ops = Vec::with_capacity(count as usize);
        let (mut pos, mut d) = (0i128, 0i128);
        for _ in 0..count {
            let head = get_varint(b, &mut at)?;
            let len = head >> 1;
            if len == 0 {
                return Err(DeltaError::Malformed("empty op"));
            }
            if head & 1 == 0 {
                let z = get_varint(b, &mut at)?;
                let rel = i128::from((z >> 1) as i64 ^ -((z & 1) as i64));
                let offset = pos + d + rel;
                if offset < 0 || offset + i128::from(len) > i128::from(new_len) {
                    return Err(DeltaError::Malformed("copy outside the file"));
                }
                d = offset - pos;
                ops.push(Op::Copy { offset: offset as u64, len });
            } else {
                let end = usize::try_from(len).ok().and_then(|l| at.checked_add(l)).filter(|&e| e <= b.len());
                let end = end.ok_or(DeltaError::Malformed("literal past the end"))?;
                ops.push(Op::Literal(b[at..end].to_vec()));
                at = end;
            }
            pos += i128::from(len);
            if pos > i128::from(old_len) {
                return Err(DeltaError::Malformed("ops longer than the original"));
            }
        }
        if pos != i128::from(old_len) || at != b.len() {
            return Err(DeltaError::Malformed("ops do not add up to the original"));
        }
        Ok(Delta { old_len, new_len, old_sum, new_sum, ops })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic xorshift generator.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Diffs, round-trips through bytes, applies; returns the encoded size.
    fn check(old: &[u8], new: &[u8]) -> usize {
        let d = diff(old, new);
        let bytes = d.to_bytes();
        let back = Delta::from_bytes(&bytes).unwrap();
        assert_eq!(back, d);
        assert_eq!(apply(new, &back).unwrap(), old);
        bytes.len()
    }

    #[test]
    fn trivial_cases() {
        assert!(check(b"", b"") < 30);
        assert!(check(b"abc", b"") < 40);
        assert!(check(b"", b"abc") < 30);
        let x = Rng(1).bytes(10_000);
        assert!(check(&x, &x) < 35);
    }

    #[test]
    fn structured_cases() {
        let mut r = Rng(7);
        let base = r.bytes(1 << 20);
        // A changed and resized region near the start (an ID3v2 tag or FLAC metadata).
        let mut grown = base.clone();
        grown.splice(100..4196, r.bytes(5000));
        let n = check(&base, &grown);
        assert!(n < 4096 + 60, "prefix region: {n}");
        // Resized at the start plus scattered 4-byte changes after it (MP4 chunk offsets).
        let mut mp4 = base.clone();
        mp4.splice(10..10, r.bytes(300));
        for _ in 0..200 {
            let p = r.below(mp4.len() - 4);
            mp4[p..p + 4].copy_from_slice(&r.bytes(4));
        }
        let n = check(&base, &mp4);
        assert!(n < 200 * 12 + 100, "scattered: {n}");
        // Ogg-like: headers resized, then 8 bytes renumbered in every 4 KiB page.
        let mut ogg = base.clone();
        ogg.splice(0..3000, r.bytes(3500));
        let mut p = 3500 + 18;
        while p + 8 < ogg.len() {
            ogg[p..p + 8].copy_from_slice(&r.bytes(8));
            p += 4096;
        }
        let n = check(&base, &ogg);
        assert!(n < base.len() / 50, "ogg-like: {n}");
        // A change at the end, a removal, and totally different inputs.
        let mut end = base.clone();
        end.truncate(base.len() - 128);
        end.extend(r.bytes(900));
        assert!(check(&base, &end) < 200);
        assert!(check(&end, &base) < 1100);
        let other = r.bytes(5000);
        assert!(check(&other, &base[..5000]) < 5100);
    }

    #[test]
    fn random_cases() {
        let mut r = Rng(42);
        for _ in 0..300 {
            let n = r.below(3000);
            let mut old = if r.below(2) == 0 { r.bytes(n) } else { vec![r.below(3) as u8; n] };
            let mut new = old.clone();
            for _ in 0..r.below(6) {
                let p = r.below(new.len() + 1);
                let q = (p + r.below(200)).min(new.len());
                let k = r.below(100);
                new.splice(p..q, r.bytes(k));
            }
            if r.below(5) == 0 {
                std::mem::swap(&mut old, &mut new);
            }
            check(&old, &new);
        }
    }

    #[test]
    fn refuses_wrong_input_and_garbage() {
        let mut r = Rng(3);
        let old = r.bytes(5000);
        let mut new = old.clone();
        new[10] ^= 1;
        let d = diff(&old, &new);
        assert!(apply(&old, &d).is_err(), "applied to the wrong file");
        assert!(apply(&new[1..], &d).is_err());
        let bytes = d.to_bytes();
        for cut in 0..bytes.len() {
            assert!(Delta::from_bytes(&bytes[..cut]).is_err());
        }
        for _ in 0..5000 {
            let mut g = bytes.clone();
            for _ in 0..1 + r.below(4) {
                let p = r.below(g.len());
                g[p] = r.next() as u8;
            }
            // Decoding may succeed only if the ops still add up; applying then must not panic.
            if let Ok(d) = Delta::from_bytes(&g) {
                let _ = apply(&new, &d);
            }
        }
        for _ in 0..2000 {
            let n = r.below(64);
            let mut g = MAGIC.to_vec();
            g.extend(r.bytes(n));
            if let Ok(d) = Delta::from_bytes(&g) {
                let _ = apply(&new, &d);
            }
        }
    }
}
