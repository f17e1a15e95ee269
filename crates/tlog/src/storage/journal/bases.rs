//! Which earlier file of a segment a journaled file extends.
//!
//! A log's partial tiles only grow at their end, and each group commit
//! writes the new, wider version of the partial entry bundle and hash
//! tiles. Journaled whole, a bundle of a few hundred entries would be
//! written again on every commit; instead a version that starts with the
//! newest earlier version of the same tile in the segment is journaled as
//! that version's path and the bytes it adds ([`Content::Extends`]).
//! Whether it does start with it is checked, byte for byte: nothing here
//! trusts the caller's paths.
//!
//! Bases never cross segments, so that a segment's records replay on their
//! own once the segments before it are retired.

use std::collections::HashMap;
use std::sync::Arc;

use super::record::{Content, Part, Record};
use crate::Error;

/// The newest partial version (`….p/<width>`) of each tile written in the
/// current segment: its path and bytes, by tile.
#[derive(Debug, Default)]
pub(super) struct Bases(HashMap<String, (String, Arc<Vec<u8>>)>);

/// The tile a path is a version of: `X` for `X.p/<width>` and for `X`.
fn tile_of(path: &str) -> &str {
    path.split_once(".p/").map_or(path, |(tile, _)| tile)
}

impl Bases {
    /// How to journal `data` for `path`: as what it adds to the newest
    /// version of its tile in this segment, if it starts with it; else
    /// whole.
    pub(super) fn part<'a>(&'a self, path: &str, data: &'a [u8]) -> Part<'a> {
        match self.0.get(tile_of(path)) {
            Some((base, old)) if data.len() > old.len() && data.starts_with(old) => Part::Extends {
                base,
                kept: old.len(),
                suffix: data.get(old.len()..).unwrap_or_default(),
            },
            _ => Part::Whole(data),
        }
    }

    /// Notes `data` as written to `path`: a partial version becomes its
    /// tile's base; any other file ends its tile's (a full tile never
    /// grows again).
    pub(super) fn note(&mut self, path: &str, data: Arc<Vec<u8>>) {
        let tile = tile_of(path);
        if tile.len() == path.len() {
            self.0.remove(tile);
        } else {
            self.0.insert(tile.to_owned(), (path.to_owned(), data));
        }
    }

    /// The bytes of a replayed record's file, resolved against the files
    /// noted before it.
    fn resolve(&self, path: &str, content: &Content) -> Result<Vec<u8>, Error> {
        let (base, kept, suffix) = match content {
            Content::Whole(data) => return Ok(data.clone()),
            Content::Extends { base, kept, suffix } => (base, *kept, suffix),
        };
        let head = self
            .0
            .get(tile_of(path))
            .filter(|(newest, _)| newest == base)
            .and_then(|(_, data)| data.get(..kept))
            .ok_or_else(unresolved)?;
        Ok([head, suffix].concat())
    }
}

/// Gives `each` the files of every record of a segment, whole, in order:
/// a record's files resolved against the files noted before the record
/// (as [`Bases::part`] chose their bases), then noted. Replay runs it
/// once with nothing to do, to find damage before anything is applied,
/// then again to apply.
pub(super) fn resolve_segment(
    records: &[Record],
    mut each: impl FnMut(&[(String, Arc<Vec<u8>>)]) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut bases = Bases::default();
    for record in records {
        let files = record
            .files
            .iter()
            .map(|(path, content)| Ok((path.clone(), Arc::new(bases.resolve(path, content)?))))
            .collect::<Result<Vec<_>, Error>>()?;
        for (path, data) in &files {
            bases.note(path, Arc::clone(data));
        }
        each(&files)?;
    }
    Ok(())
}

fn unresolved() -> Error {
    Error::Corrupt(
        "a journal record extends a file that no earlier record of its segment wrote at that \
         length"
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arc(b: &[u8]) -> Arc<Vec<u8>> {
        Arc::new(b.to_vec())
    }

    #[test]
    fn a_wider_version_of_a_tile_is_journaled_as_what_it_adds() {
        let mut bases = Bases::default();
        bases.note("tile/entries/000.p/1", arc(b"one"));
        let Part::Extends { base, kept, suffix } = bases.part("tile/entries/000.p/2", b"onetwo")
        else {
            panic!("not an extension");
        };
        assert_eq!(
            (base, kept, suffix),
            ("tile/entries/000.p/1", 3, &b"two"[..])
        );
        // The full tile extends its partial version too.
        assert!(matches!(
            bases.part("tile/entries/000", b"onetwothree"),
            Part::Extends { .. }
        ));
    }

    #[test]
    fn what_does_not_start_with_the_base_is_journaled_whole() {
        let mut bases = Bases::default();
        bases.note("tile/0/000.p/2", arc(b"abcd"));
        for data in [&b"abXdef"[..], b"abcd", b"ab"] {
            assert!(matches!(bases.part("tile/0/000.p/3", data), Part::Whole(_)));
        }
        // Another tile, or a file that is no tile's version.
        assert!(matches!(
            bases.part("tile/0/001.p/1", b"abcdef"),
            Part::Whole(_)
        ));
        assert!(matches!(
            bases.part("checkpoint", b"abcdef"),
            Part::Whole(_)
        ));
        // A full tile ends its tile's base.
        bases.note("tile/0/000", arc(b"abcdef"));
        assert!(matches!(
            bases.part("tile/0/000.p/9", b"abcdefgh"),
            Part::Whole(_)
        ));
    }

    #[test]
    fn replay_refuses_an_extension_of_a_file_it_has_not_seen() {
        let mut bases = Bases::default();
        let extends = |base: &str, kept| Content::Extends {
            base: base.into(),
            kept,
            suffix: b"x".to_vec(),
        };
        assert!(bases.resolve("t.p/2", &extends("t.p/1", 1)).is_err());
        bases.note("t.p/1", arc(b"ab"));
        assert_eq!(
            bases.resolve("t.p/2", &extends("t.p/1", 2)).unwrap(),
            b"abx"
        );
        assert_eq!(bases.resolve("t.p/2", &extends("t.p/1", 1)).unwrap(), b"ax");
        assert!(
            bases.resolve("t.p/2", &extends("t.p/1", 3)).is_err(),
            "kept too long"
        );
        assert!(
            bases.resolve("t.p/2", &extends("t.p/0", 1)).is_err(),
            "not the newest"
        );
        assert!(
            bases.resolve("u.p/2", &extends("t.p/1", 1)).is_err(),
            "another tile"
        );
    }
}
