//! The record format of the journal: pure encoding and decoding; the
//! segment files are handled by the [journal](super) itself. Each segment
//! is a sequence of records:
//!
//! ```text
//! record = body-length:u32le  crc32(body):u32le  body
//! body   = file-count:u32le  file*
//! file   = path-length:u32le  path(UTF-8)  data-length:u32le  data
//! ```
//!
//! The CRC-32 (IEEE) tells a record the crash cut short, at the end of the
//! last segment, from a whole one.

use crate::Error;

const HEADER: usize = 8;

/// One journaled write: the files it stored, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// `(path, contents)` pairs, as given to the write.
    pub files: Vec<(String, Vec<u8>)>,
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
    pub fn encode(files: &[(String, Vec<u8>)], out: &mut Vec<u8>) -> Result<(), Error> {
        let start = out.len();
        out.extend_from_slice(&[0; HEADER]);
        put_len(out, files.len(), "file count")?;
        for (path, data) in files {
            put_len(out, path.len(), "path length")?;
            out.extend_from_slice(path.as_bytes());
            put_len(out, data.len(), "file length")?;
            out.extend_from_slice(data);
        }
        let body = &out[start + HEADER..];
        let len = u32::try_from(body.len())
            .map_err(|_| Error::malformed("journal record", "larger than 4 GiB"))?;
        let crc = crc32fast::hash(body);
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
        out[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
        Ok(())
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
            let n = take_len(&mut body)?;
            let path = take(&mut body, n)?;
            let path = std::str::from_utf8(path).map_err(|_| "a path is not UTF-8")?;
            let n = take_len(&mut body)?;
            let data = take(&mut body, n)?;
            files.push((path.to_owned(), data.to_vec()));
        }
        if !body.is_empty() {
            return Err("bytes after the last file");
        }
        Ok(Record { files })
    }
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

    fn encoded(records: &[Vec<(String, Vec<u8>)>]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in records {
            Record::encode(r, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn a_record_has_the_documented_layout() {
        let bytes = encoded(&[vec![("checkpoint".into(), b"ab".to_vec())]]);
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
    fn a_record_cut_anywhere_is_a_torn_tail() {
        let first = vec![("tile/0/000.p/1".to_owned(), vec![7; 32])];
        let second = vec![("checkpoint".to_owned(), b"log\n1\n".to_vec())];
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
        let a = vec![("a".to_owned(), b"one".to_vec())];
        let b = vec![("b".to_owned(), b"two".to_vec())];
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

    proptest! {
        #[test]
        fn records_round_trip(records in proptest::collection::vec(
            proptest::collection::vec(("[a-z0-9/.]{1,20}", proptest::collection::vec(any::<u8>(), 0..64)), 0..4),
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
