//! APEv2 (and APEv1) tags at the end of a file, read-only: melotag never writes them, it only
//! checks that a write kept them byte-identical.
//!
//! Format rules (Monkey's Audio / hydrogenaud.io APEv2 specification):
//! - A 32-byte footer "APETAGEX", version (1000 = v1, 2000 = v2), tag size (items + footer,
//!   excluding the header), item count, flags, 8 reserved bytes; all little-endian.
//! - APEv2 may have a 32-byte header in front of the items (footer flag bit 31 "has header");
//!   APEv1 never does. The header carries flag bit 29 ("this is the header").
//! - Items: value length, item flags (4 bytes each, LE), key (printable ASCII, NUL-terminated),
//!   value. An item running past the tag is damage.

use std::io::{Read, Seek};

use super::util::{damaged, read_vec};
use super::*;

/// Where an APE tag sits and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApeTagInfo {
    /// Offset of the header (or of the first item when there is no header).
    pub start: u64,
    /// Length from `start` to the end of the footer.
    pub len: u64,
    /// The items (tag "APE", key as stored, bytes: the 4 flag bytes then the value).
    pub items: Vec<Item>,
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Finds an APE tag whose footer ends exactly at `end_offset` (`None` if there is no footer).
pub fn find<R: Read + Seek>(r: &mut R, end_offset: u64) -> Result<Option<ApeTagInfo>, RawError> {
    let Some(foot_at) = end_offset.checked_sub(32) else {
        return Ok(None);
    };
    let mut foot = [0u8; 32];
    read_at(r, foot_at, &mut foot)?;
    if &foot[..8] != b"APETAGEX" {
        return Ok(None);
    }
    let version = le32(&foot[8..12]);
    let size = u64::from(le32(&foot[12..16]));
    let count = le32(&foot[16..20]);
    let flags = le32(&foot[20..24]);
    if version != 1000 && version != 2000 {
        return Err(RawError::Unsupported(format!("APE tag version {version}")));
    }
    if !(32..=end_offset).contains(&size) {
        return Err(damaged(format!("APE tag size {size}"), foot_at + 12));
    }
    let items_at = end_offset - size;
    let has_header = version == 2000 && flags & 0x8000_0000 != 0;
    let start = if has_header {
        let at = items_at.checked_sub(32).ok_or_else(|| damaged("APE tag header (before the file start)", foot_at + 20))?;
        let mut head = [0u8; 32];
        read_at(r, at, &mut head)?;
        if &head[..8] != b"APETAGEX" || le32(&head[20..24]) & 0x2000_0000 == 0 {
            return Err(damaged("APE tag header", at));
        }
        at
    } else {
        items_at
    };
    let data = read_vec(r, items_at, size - 32)?;
    let mut items = Vec::new();
    let mut pos = 0usize;
    for _ in 0..count {
        let at = items_at + pos as u64;
        let head = data.get(pos..pos + 8).ok_or_else(|| damaged("APE item header (past the end of the tag)", at))?;
        let value_len = le32(&head[..4]) as usize;
        let key_at = pos + 8;
        let key_len = data
            .get(key_at..)
            .and_then(|k| k.iter().take(256).position(|&b| b == 0))
            .ok_or_else(|| damaged("APE item key (no terminator)", at + 8))?;
        let key = &data[key_at..key_at + key_len];
        if key.is_empty() || !key.iter().all(|b| (0x20..=0x7E).contains(b)) {
            return Err(damaged("APE item key", at + 8));
        }
        let value_at = key_at + key_len + 1;
        let value = data
            .get(value_at..value_at.saturating_add(value_len))
            .ok_or_else(|| damaged("APE item value (past the end of the tag)", at))?;
        items.push(Item { tag: "APE", key: String::from_utf8_lossy(key).into_owned(), bytes: [&head[4..8], value].concat() });
        pos = value_at + value_len;
    }
    Ok(Some(ApeTagInfo { start, len: end_offset - start, items }))
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use std::io::Cursor;

    #[test]
    fn finds_v2_and_v1_tags() {
        let items = [("Title", 0u32, &b"t"[..]), ("Cover Art (Front)", 2, b"x.jpg\0\xff\xd8")];
        for v2 in [true, false] {
            let tag = ape_tag(&items, v2);
            let file = [b"audio".to_vec(), tag.clone(), b"TAG".to_vec()].concat();
            let found = find(&mut Cursor::new(&file), 5 + tag.len() as u64).unwrap().unwrap();
            assert_eq!((found.start, found.len), (5, tag.len() as u64));
            assert_eq!(found.items.len(), 2);
            assert_eq!(found.items[1].key, "Cover Art (Front)");
            assert_eq!(found.items[1].bytes, b"\x02\x00\x00\x00x.jpg\0\xff\xd8");
            assert!(find(&mut Cursor::new(&file), file.len() as u64).unwrap().is_none());
        }
    }

    #[test]
    fn refuses_damage_and_never_panics() {
        let tag = ape_tag(&[("Title", 0, b"t"), ("Artist", 0, b"someone")], true);
        let mut bad = tag.clone();
        let n = bad.len();
        bad[n - 32 + 12] = 0xFF; // size far too large
        assert!(matches!(find(&mut Cursor::new(&bad), n as u64), Err(RawError::Damaged { .. })));
        let mut bad = tag.clone();
        bad[32] = 0xFF; // first item's value length past the tag
        assert!(matches!(find(&mut Cursor::new(&bad), n as u64), Err(RawError::Damaged { offset: 32, .. })));
        let mut rng = Lcg(11);
        for _ in 0..3000 {
            let mut data = [vec![0; 40], tag.clone()].concat();
            rng.mutate(&mut data);
            let _ = find(&mut Cursor::new(&data), data.len() as u64);
        }
    }
}
