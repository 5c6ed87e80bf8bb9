//! Helpers shared by the raw readers and writers: hashing a byte range of a file in chunks,
//! and turning a list of [`Piece`]s (the new file described in terms of the original) into bytes.

use std::io::{Read, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};

use super::*;

/// Chunk size for hashing and copying: files can be hundreds of MB, never load them whole.
const CHUNK: usize = 1 << 20;

/// A `RawError::Damaged`.
pub fn damaged(what: impl Into<String>, offset: u64) -> RawError {
    RawError::Damaged { what: what.into(), offset }
}

/// Moves the offset of a `Damaged` error by `base` (a structure parsed from a buffer that starts
/// at `base` in the file reports file offsets).
pub fn rebase(e: RawError, base: u64) -> RawError {
    match e {
        RawError::Damaged { what, offset } => damaged(what, offset.saturating_add(base)),
        e => e,
    }
}

/// The length of a file (leaves the position at its end).
pub fn stream_len<R: Seek>(r: &mut R) -> Result<u64, RawError> {
    Ok(r.seek(SeekFrom::End(0))?)
}

/// Reads `len` bytes at `offset` into a new buffer (`len` must already be checked against the
/// file length, so a damaged size field cannot make us allocate gigabytes for nothing).
pub fn read_vec<R: Read + Seek>(r: &mut R, offset: u64, len: u64) -> Result<Vec<u8>, RawError> {
    let len = usize::try_from(len).map_err(|_| RawError::Unsupported("structure too large".into()))?;
    let mut buf = vec![0; len];
    read_at(r, offset, &mut buf)?;
    Ok(buf)
}

/// SHA-256 and length of `len` bytes at `offset`, read in 1 MiB chunks.
pub fn hash_range<R: Read + Seek>(r: &mut R, offset: u64, len: u64) -> Result<AudioDigest, RawError> {
    if !super::hashing_audio() {
        return Ok(AudioDigest { sha256: [0; 32], len });
    }
    r.seek(SeekFrom::Start(offset))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; usize::try_from(len).map_or(CHUNK, |l| l.min(CHUNK))];
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
        r.read_exact(&mut buf[..n])?;
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(AudioDigest { sha256: hasher.finalize().into(), len })
}

/// Pieces that reproduce a file of `len` bytes unchanged.
pub fn identity(len: u64) -> Vec<Piece> {
    if len == 0 { Vec::new() } else { vec![Piece::Copy { offset: 0, len }] }
}

/// Length of the file the pieces describe.
pub fn pieces_len(pieces: &[Piece]) -> u64 {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Bytes(b) => b.len() as u64,
            Piece::Copy { len, .. } => *len,
        })
        .sum()
}

/// Writes the file described by `pieces` (copies read from `src` in 1 MiB chunks); returns the
/// number of bytes written.
pub fn write_pieces<R: Read + Seek, W: Write>(src: &mut R, pieces: &[Piece], out: &mut W) -> Result<u64, RawError> {
    let mut buf = vec![0; CHUNK];
    let mut written = 0u64;
    for piece in pieces {
        match piece {
            Piece::Bytes(b) => {
                out.write_all(b)?;
                written += b.len() as u64;
            }
            Piece::Copy { offset, len } => {
                src.seek(SeekFrom::Start(*offset))?;
                let mut left = *len;
                while left > 0 {
                    let n = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
                    src.read_exact(&mut buf[..n])?;
                    out.write_all(&buf[..n])?;
                    left -= n as u64;
                }
                written += len;
            }
        }
    }
    Ok(written)
}

/// Appends a piece, merging adjacent copies (so an unchanged run of chunks is one copy).
pub fn push_piece(pieces: &mut Vec<Piece>, piece: Piece) {
    match (pieces.last_mut(), piece) {
        (_, Piece::Copy { len: 0, .. }) => {}
        (Some(Piece::Copy { offset, len }), Piece::Copy { offset: o, len: l }) if *offset + *len == o => *len += l,
        (Some(Piece::Bytes(b)), Piece::Bytes(nb)) => b.extend_from_slice(&nb),
        (_, p) => pieces.push(p),
    }
}
