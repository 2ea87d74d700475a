// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The module's extent map (`rnvme_hook/extent.rs`), modelled on the host:
//! built from runs the way the module builds it from fiemap's extents,
//! every lookup is checked against a plain per-block reference.

use rnvme::extent::{append, lookup, pieces, Extent, Lookup};

/// The runs of a per-block map (0 = unmapped), cut wherever `cut` says, as a
/// file system may report them (ext4 cuts extents at 32768 blocks).
fn runs(map: &[u64], cut: impl Fn(usize) -> bool) -> Vec<Extent> {
    let mut runs: Vec<Extent> = Vec::new();
    for (i, &pblk) in map.iter().enumerate() {
        if pblk == 0 {
            continue;
        }
        match runs.last_mut() {
            Some(r) if !cut(i) && r.lblk + r.len == i as u64 && r.pblk + r.len == pblk => {
                r.len += 1
            }
            _ => runs.push(Extent {
                lblk: i as u64,
                pblk,
                len: 1,
            }),
        }
    }
    runs
}

/// Builds the map from `runs` with [`append`], as the module does.
fn build_from(runs: &[Extent]) -> Vec<Extent> {
    let mut extents: Vec<Extent> = Vec::new();
    for &r in runs {
        if let Some(e) = append(extents.last_mut(), r) {
            extents.push(e);
        }
    }
    extents
}

/// Builds extents from a per-block map, whichever way it is cut in runs.
fn build(map: &[u64]) -> Vec<Extent> {
    let whole = build_from(&runs(map, |_| false));
    assert_eq!(whole, build_from(&runs(map, |_| true)), "runs of one block");
    assert_eq!(whole, build_from(&runs(map, |i| i % 3 == 0)), "runs cut");
    whole
}

/// The reference: the sector of every 512-byte piece of the range, or None
/// if any is unmapped.
fn reference(map: &[u64], blkbits: u32, offset: u64, len: u64) -> Option<Vec<u64>> {
    (offset / 512..(offset + len) / 512)
        .map(|s| {
            let byte = s * 512;
            let pblk = *map.get((byte >> blkbits) as usize)?;
            (pblk != 0).then(|| ((pblk << blkbits) + (byte & ((1 << blkbits) - 1))) / 512)
        })
        .collect()
}

fn check_all(map: &[u64], blkbits: u32) {
    let extents = build(map);
    let size = (map.len() as u64) << blkbits;
    for len in [512u64, 1024, 4096] {
        for offset in (0..size.saturating_sub(len - 1)).step_by(512) {
            let want = reference(map, blkbits, offset, len);
            match lookup(&extents, blkbits, offset, len) {
                Lookup::Sector(s) => {
                    let want = want.expect("mapped");
                    let contiguous: Vec<u64> = (s..s + len / 512).collect();
                    assert_eq!(want, contiguous, "offset {offset} len {len}");
                }
                Lookup::Split => {
                    let want = want.expect("mapped");
                    let mut got = Vec::new();
                    let mut at = 0;
                    for p in pieces(&extents, blkbits, offset, len) {
                        assert_eq!(p.buf_offset, at);
                        got.extend(p.sector..p.sector + p.len / 512);
                        at += p.len;
                    }
                    assert_eq!(at, len);
                    assert_eq!(want, got, "offset {offset} len {len}");
                    assert!(
                        got.windows(2).any(|w| w[1] != w[0] + 1),
                        "split but contiguous"
                    );
                }
                Lookup::Hole => assert!(want.is_none(), "offset {offset} len {len}: hole claimed"),
            }
        }
    }
}

#[test]
fn contiguous_file_is_one_extent() {
    let map: Vec<u64> = (100..164).collect();
    assert_eq!(
        build(&map),
        vec![Extent {
            lblk: 0,
            pblk: 100,
            len: 64
        }]
    );
    check_all(&map, 12);
}

#[test]
fn fragmented_files_with_holes_match_the_reference() {
    // Interleaved with another file, a hole, a run, an unwritten block.
    let map = [10, 12, 14, 0, 30, 31, 32, 0, 0, 7, 8, 200, 201, 0, 5];
    assert_eq!(build(&map).len(), 7);
    for blkbits in [10, 12] {
        check_all(&map, blkbits);
    }
}

#[test]
fn pseudo_random_maps_match_the_reference() {
    let mut x = 0x1234_5678_9abc_def1u64;
    for _ in 0..50 {
        let map: Vec<u64> = (0..40)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match x % 5 {
                    0 => 0,
                    1 | 2 => 1000 + i,
                    _ => 1 + x % 500,
                }
            })
            .collect();
        check_all(&map, 12);
    }
}

#[test]
fn empty_map_is_all_hole() {
    assert_eq!(lookup(&[], 12, 0, 512), Lookup::Hole);
}

#[test]
fn append_merges_continuations_and_drops_overlaps() {
    let mut m = build_from(&[
        Extent {
            lblk: 0,
            pblk: 100,
            len: 8,
        },
        // Continues the first in the file and on disk: merged.
        Extent {
            lblk: 8,
            pblk: 108,
            len: 8,
        },
        // Overlaps what is mapped (a file system restarting mid-extent):
        // only the new part counts.
        Extent {
            lblk: 12,
            pblk: 112,
            len: 8,
        },
        // Entirely inside: dropped.
        Extent {
            lblk: 2,
            pblk: 102,
            len: 4,
        },
        // After a hole, elsewhere on disk.
        Extent {
            lblk: 30,
            pblk: 500,
            len: 2,
        },
    ]);
    assert_eq!(
        m,
        vec![
            Extent {
                lblk: 0,
                pblk: 100,
                len: 20
            },
            Extent {
                lblk: 30,
                pblk: 500,
                len: 2
            },
        ]
    );
    assert_eq!(
        append(
            m.last_mut(),
            Extent {
                lblk: 31,
                pblk: 900,
                len: 3
            }
        ),
        Some(Extent {
            lblk: 32,
            pblk: 901,
            len: 2
        })
    );
}
