//! The record format of the journal: pure encoding and decoding; the
//! segment files are handled by the [journal](super) itself. Each segment
//! is a sequence of records:
//!
//! ```text
//! record  = body-length:u32le  crc32(body):u32le  body
//! body    = file-count:u32le  file*
//! file    = whole | extends
//! whole   = path-length:u32le  path(UTF-8)  data-length:u32le  data
//! extends = (path-length | 1<<31):u32le  path(UTF-8)
//!           base-length:u32le  base(UTF-8)  kept:u32le
//!           suffix-length:u32le  suffix
//! ```
//!
//! A file that `extends` is the first `kept` bytes of `base` followed by
//! `suffix`, where `base` is a file an earlier record of the same segment
//! wrote (see [`super::bases`]): a partial tile grows at its end, so a
//! commit journals only what it appends, not the whole tile again.
//!
//! Journals written before `extends` existed replay unchanged (no path
//! length has that bit set); a binary from before it refuses a journal
//! holding one, so a node stopped by a crash restarts on the same build
//! or newer (a graceful stop empties the journal).
//!
//! The CRC-32 (IEEE) tells a record the crash cut short, at the end of the
//! last segment, from a whole one.

use crate::Error;

const HEADER: usize = 8;
/// The bit of a path's length that marks a file that `extends` another.
const EXTENDS: u32 = 1 << 31;

/// One journaled write: the files it stored, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// `(path, content)` pairs, in the order of the write: a file's
    /// bytes, or what it adds to an earlier file of the segment.
    pub files: Vec<(String, Content)>,
}

/// What a record holds of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// All of its bytes.
    Whole(Vec<u8>),
    /// The first `kept` bytes of the file `base`, which an earlier record
    /// of the segment wrote, then `suffix`.
    Extends {
        /// The earlier file's path.
        base: String,
        /// How many of its bytes come first.
        kept: usize,
        /// The bytes after them.
        suffix: Vec<u8>,
    },
}

/// [`Content`], borrowed: what [`Record::encode`] takes.
#[derive(Clone, Copy, Debug)]
pub enum Part<'a> {
    /// All of the file's bytes.
    Whole(&'a [u8]),
    /// See [`Content::Extends`].
    Extends {
        /// The earlier file's path.
        base: &'a str,
        /// How many of its bytes come first.
        kept: usize,
        /// The bytes after them.
        suffix: &'a [u8],
    },
}

impl Content {
    /// This content, borrowed.
    pub fn part(&self) -> Part<'_> {
        match self {
            Content::Whole(d) => Part::Whole(d),
            Content::Extends { base, kept, suffix } => Part::Extends {
                base,
                kept: *kept,
                suffix,
            },
        }
    }
}

/// What a segment holds.
#[derive(Debug, PartialEq, Eq)]
pub struct Segment {
    /// The whole records, in order.
    pub records: Vec<Record>,
    /// Bytes after the last whole record that do not form one: a record
    /// an interrupted append left behind (its write never returned).
    pub torn_tail: usize,
}

impl Record {
    /// Appends the record's encoding to `out`.
    pub fn encode(files: &[(&str, Part<'_>)], out: &mut Vec<u8>) -> Result<(), Error> {
        let start = out.len();
        out.extend_from_slice(&[0; HEADER]);
        put_len(out, files.len(), "file count")?;
        for (path, part) in files {
            let n = u32::try_from(path.len())
                .ok()
                .filter(|n| n & EXTENDS == 0)
                .ok_or_else(|| Error::malformed("journal record", "a path over 2 GiB"))?;
            match part {
                Part::Whole(data) => {
                    out.extend_from_slice(&n.to_le_bytes());
                    out.extend_from_slice(path.as_bytes());
                    put_len(out, data.len(), "file length")?;
                    out.extend_from_slice(data);
                }
                Part::Extends { base, kept, suffix } => {
                    out.extend_from_slice(&(n | EXTENDS).to_le_bytes());
                    out.extend_from_slice(path.as_bytes());
                    put_len(out, base.len(), "base path length")?;
                    out.extend_from_slice(base.as_bytes());
                    put_len(out, *kept, "kept length")?;
                    put_len(out, suffix.len(), "suffix length")?;
                    out.extend_from_slice(suffix);
                }
            }
        }
        let body = &out[start + HEADER..];
        let len = u32::try_from(body.len())
            .map_err(|_| Error::malformed("journal record", "larger than 4 GiB"))?;
        let crc = crc32fast::hash(body);
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
        out[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
        Ok(())
    }

    /// The record's files, borrowed, as [`Record::encode`] takes them.
    pub fn parts(&self) -> Vec<(&str, Part<'_>)> {
        self.files
            .iter()
            .map(|(p, c)| (p.as_str(), c.part()))
            .collect()
    }
}

fn put_len(out: &mut Vec<u8>, n: usize, what: &'static str) -> Result<(), Error> {
    let n = u32::try_from(n)
        .map_err(|_| Error::malformed("journal record", format!("{what} over 4 GiB")))?;
    out.extend_from_slice(&n.to_le_bytes());
    Ok(())
}

impl Segment {
    /// Decodes a segment's bytes. A record whose checksum matches but whose
    /// body does not parse is an error: that is damage, not a torn append.
    pub fn decode(bytes: &[u8]) -> Result<Segment, Error> {
        let mut records = Vec::new();
        let mut at = 0;
        while let Some(header) = bytes.get(at..at + HEADER) {
            let len = le32(&header[..4]) as usize;
            let crc = le32(&header[4..]);
            let Some(body) = bytes.get(at + HEADER..).and_then(|b| b.get(..len)) else {
                break;
            };
            if crc32fast::hash(body) != crc {
                break;
            }
            records.push(Record::decode_body(body).map_err(|why| {
                Error::malformed("journal record", format!("at byte {at}: {why}"))
            })?);
            at += HEADER + len;
        }
        Ok(Segment {
            records,
            torn_tail: bytes.len() - at,
        })
    }
}

impl Record {
    fn decode_body(mut body: &[u8]) -> Result<Record, &'static str> {
        let count = take_len(&mut body)?;
        // Each file takes at least 8 bytes, which bounds the allocation.
        if count > body.len() / 8 {
            return Err("more files than the record has room for");
        }
        let mut files = Vec::with_capacity(count);
        for _ in 0..count {
            let n = le32(take(&mut body, 4)?);
            let path = take_str(&mut body, (n & !EXTENDS) as usize)?;
            let content = if n & EXTENDS == 0 {
                let n = take_len(&mut body)?;
                Content::Whole(take(&mut body, n)?.to_vec())
            } else {
                let n = take_len(&mut body)?;
                let base = take_str(&mut body, n)?;
                let kept = take_len(&mut body)?;
                let n = take_len(&mut body)?;
                Content::Extends {
                    base: base.to_owned(),
                    kept,
                    suffix: take(&mut body, n)?.to_vec(),
                }
            };
            files.push((path.to_owned(), content));
        }
        if !body.is_empty() {
            return Err("bytes after the last file");
        }
        Ok(Record { files })
    }
}

fn take_str<'a>(body: &mut &'a [u8], n: usize) -> Result<&'a str, &'static str> {
    std::str::from_utf8(take(body, n)?).map_err(|_| "a path is not UTF-8")
}

fn le32(b: &[u8]) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(b);
    u32::from_le_bytes(a)
}

fn take<'a>(body: &mut &'a [u8], n: usize) -> Result<&'a [u8], &'static str> {
    if body.len() < n {
        return Err("a length runs past the end of the record");
    }
    let (head, rest) = body.split_at(n);
    *body = rest;
    Ok(head)
}

fn take_len(body: &mut &[u8]) -> Result<usize, &'static str> {
    Ok(le32(take(body, 4)?) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn whole(path: &str, data: &[u8]) -> (String, Content) {
        (path.to_owned(), Content::Whole(data.to_vec()))
    }

    fn encoded(records: &[Vec<(String, Content)>]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in records {
            let parts: Vec<(&str, Part<'_>)> =
                r.iter().map(|(p, c)| (p.as_str(), c.part())).collect();
            Record::encode(&parts, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn a_record_has_the_documented_layout() {
        let bytes = encoded(&[vec![whole("checkpoint", b"ab")]]);
        let body = [
            &1u32.to_le_bytes()[..],
            &10u32.to_le_bytes(),
            b"checkpoint",
            &2u32.to_le_bytes(),
            b"ab",
        ]
        .concat();
        assert_eq!(&bytes[..4], &(body.len() as u32).to_le_bytes());
        // CRC-32 (IEEE) check value of "123456789", the standard vector.
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(&bytes[4..8], &crc32fast::hash(&body).to_le_bytes());
        assert_eq!(&bytes[8..], &body[..]);
    }

    #[test]
    fn a_file_that_extends_another_has_the_documented_layout() {
        let extends = Content::Extends {
            base: "t.p/1".into(),
            kept: 3,
            suffix: b"de".to_vec(),
        };
        let bytes = encoded(&[vec![("t.p/2".to_owned(), extends)]]);
        let body = [
            &1u32.to_le_bytes()[..],
            &(5u32 | 1 << 31).to_le_bytes(),
            b"t.p/2",
            &5u32.to_le_bytes(),
            b"t.p/1",
            &3u32.to_le_bytes(),
            &2u32.to_le_bytes(),
            b"de",
        ]
        .concat();
        assert_eq!(&bytes[8..], &body[..]);
    }

    #[test]
    fn a_record_cut_anywhere_is_a_torn_tail() {
        let first = vec![whole("tile/0/000.p/1", &[7; 32])];
        let second = vec![whole("checkpoint", b"log\n1\n")];
        let whole = encoded(&[first.clone(), second]);
        let one = encoded(std::slice::from_ref(&first)).len();
        for cut in one..whole.len() {
            let s = Segment::decode(&whole[..cut]).unwrap();
            assert_eq!(
                s.records,
                vec![Record {
                    files: first.clone()
                }]
            );
            assert_eq!(s.torn_tail, cut - one);
        }
    }

    #[test]
    fn a_flipped_bit_ends_the_segment_there() {
        let a = vec![whole("a", b"one")];
        let b = vec![whole("b", b"two")];
        let mut bytes = encoded(&[a.clone(), b]);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let s = Segment::decode(&bytes).unwrap();
        assert_eq!(s.records, vec![Record { files: a }]);
        assert!(s.torn_tail > 0);
    }

    #[test]
    fn a_checksummed_body_that_does_not_parse_is_an_error() {
        let body = [&5u32.to_le_bytes()[..], b"xx"].concat();
        let bytes = [
            &(body.len() as u32).to_le_bytes()[..],
            &crc32fast::hash(&body).to_le_bytes(),
            &body,
        ]
        .concat();
        let e = Segment::decode(&bytes).unwrap_err().to_string();
        assert!(e.contains("journal record") && e.contains("byte 0"), "{e}");
    }

    fn content() -> impl Strategy<Value = Content> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..64);
        prop_oneof![
            bytes().prop_map(Content::Whole),
            ("[a-z0-9/.]{1,20}", 0usize..1000, bytes())
                .prop_map(|(base, kept, suffix)| Content::Extends { base, kept, suffix }),
        ]
    }

    proptest! {
        #[test]
        fn records_round_trip(records in proptest::collection::vec(
            proptest::collection::vec(("[a-z0-9/.]{1,20}", content()), 0..4),
            0..6,
        )) {
            let s = Segment::decode(&encoded(&records)).unwrap();
            prop_assert_eq!(s.torn_tail, 0);
            let files: Vec<_> = s.records.into_iter().map(|r| r.files).collect();
            prop_assert_eq!(files, records);
        }

        #[test]
        fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Segment::decode(&bytes);
        }
    }
}
