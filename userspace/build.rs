// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Build script: the storage functions and the UAPI they share with the kernel.
//!
//! - `<linux/rnvme.h>` (context struct, verdicts) has one definition: the file
//!   the kernel patch series creates. It is taken out of `kernel-patches/`
//!   into `OUT_DIR/include/`, so neither the BPF programs nor this crate need
//!   a kernel tree, and bindgen turns it into Rust (`OUT_DIR/uapi.rs`).
//! - `bpf/*.bpf.c` (built-in functions) and `bpf/tests/*.bpf.c` (fixtures)
//!   are compiled by libbpf-cargo's `SkeletonBuilder` into `OUT_DIR`; each
//!   built-in also gets a skeleton (`OUT_DIR/<name>.skel.rs`, listed in
//!   `skeletons.rs`); the fixtures are listed in `functions.rs` for
//!   `include_bytes!`.

use std::{
    env, fs,
    path::{Path, PathBuf},
};

use libbpf_cargo::SkeletonBuilder;

const UAPI_PATH: &str = "include/uapi/linux/rnvme.h";

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().to_path_buf();
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());

    let include = out.join("include");
    fs::create_dir_all(include.join("linux")).unwrap();
    let header = extract_uapi(&root.join("kernel-patches"));
    fs::write(include.join("linux/rnvme.h"), header).unwrap();

    bindgen::Builder::default()
        .header(include.join("linux/rnvme.h").to_str().unwrap())
        .allowlist_item("rnvme_.*|RNVME_.*")
        .derive_default(true)
        .layout_tests(false)
        .generate()
        .expect("bindgen of <linux/rnvme.h>")
        .write_to_file(out.join("uapi.rs"))
        .unwrap();

    let bpf = root.join("bpf");
    // The scratch layouts of the engine walkers, for userspace/src/engines/.
    for name in ["rocksdb_format", "sqlite_format"] {
        bindgen::Builder::default()
            .header(
                bpf.join("include")
                    .join(format!("{name}.h"))
                    .to_str()
                    .unwrap(),
            )
            .clang_arg(format!("-I{}", include.display()))
            .clang_arg("-idirafter/usr/include/x86_64-linux-gnu")
            .derive_default(true)
            .use_core()
            .generate()
            .unwrap_or_else(|e| panic!("bindgen of {name}.h: {e}"))
            .write_to_file(out.join(format!("{name}.rs")))
            .unwrap();
    }
    let clang_args = [
        format!("-I{}", include.display()),
        format!("-I{}", bpf.join("include").display()),
        // Debian's <linux/types.h> needs <asm/types.h> from the multiarch dir.
        "-idirafter/usr/include/x86_64-linux-gnu".to_string(),
        "-Wall".to_string(),
        "-Werror".to_string(),
    ];
    let mut functions = String::new();
    let mut skels = String::new();
    for (dir, list) in [(bpf.clone(), "BUILTIN"), (bpf.join("tests"), "FIXTURES")] {
        let objs = out.join("bpf").join(list.to_lowercase());
        fs::create_dir_all(&objs).unwrap();
        if list == "FIXTURES" {
            functions += "pub(crate) const FIXTURES: &[(&str, &[u8])] = &[\n";
        }
        let mut sources: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_str().unwrap().ends_with(".bpf.c"))
            .collect();
        sources.sort();
        for src in sources {
            let name = src
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .trim_end_matches(".bpf.c");
            let obj = objs.join(format!("{name}.bpf.o"));
            let mut builder = SkeletonBuilder::new();
            builder.source(&src).obj(&obj).clang_args(&clang_args);
            if list == "BUILTIN" {
                // A typed skeleton per built-in function.
                let skel = out.join(format!("{name}.skel.rs"));
                builder
                    .build_and_generate(&skel)
                    .unwrap_or_else(|e| panic!("{}: {e:#}", src.display()));
                skels += &format!("pub(crate) mod {name} {{\n    include!({skel:?});\n}}\n");
            } else {
                builder
                    .build()
                    .unwrap_or_else(|e| panic!("{}: {e:#}", src.display()));
                functions += &format!("    ({name:?}, include_bytes!({obj:?})),\n");
            }
        }
    }
    functions += "];\n";
    fs::write(out.join("functions.rs"), functions).unwrap();
    fs::write(out.join("skeletons.rs"), skels).unwrap();

    println!("cargo:rerun-if-changed={}", bpf.display());
    println!("cargo:rerun-if-changed={}", bpf.join("tests").display());
    println!("cargo:rerun-if-changed={}", bpf.join("include").display());
    println!(
        "cargo:rerun-if-changed={}",
        root.join("kernel-patches").display()
    );
}

/// The contents of the UAPI header as the patch series leaves it. A patch
/// that touches the header creates or rewrites it whole (one hunk of `-`
/// and `+` lines, no context), so the last such patch holds all of it.
fn extract_uapi(patches: &Path) -> String {
    let series = fs::read_to_string(patches.join("series")).unwrap();
    let mut found = None;
    for name in series
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let patch = fs::read_to_string(patches.join(name.trim())).unwrap();
        let marker = format!("+++ b/{UAPI_PATH}\n");
        let Some(start) = patch.find(&marker) else {
            continue;
        };
        let body = &patch[start + marker.len()..];
        let mut header = String::new();
        for line in body.lines().skip_while(|l| l.starts_with("@@")) {
            if line.starts_with("diff --git") || line.starts_with("--- a/") || line == "-- " {
                break;
            }
            if let Some(l) = line.strip_prefix('+') {
                header.push_str(l);
                header.push('\n');
            } else if !line.starts_with('-') {
                panic!("{name}: {UAPI_PATH} must be created or rewritten whole");
            }
        }
        found = Some(header);
    }
    found.unwrap_or_else(|| panic!("no patch in kernel-patches/series creates {UAPI_PATH}"))
}
