//! The image's build, replayed without Docker: every stage of the Dockerfile
//! but the last (the runtime image) runs in a scratch folder of its own, its
//! COPY steps copying from the build context (less what .dockerignore leaves
//! out) or from an earlier stage, its RUN steps run by `sh` in its WORKDIR.
//! Each `cargo build` in them becomes `cargo fetch --locked --offline` for this
//! machine: it reads and checks what the build would, the manifest with every
//! target it declares and the lock file, in a second instead of the minutes a
//! release build takes. A manifest the dependency stage cannot build from (a
//! target whose file the stage lacks, as once a bench) fails here.

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use dockerfile_parser::{Dockerfile, Instruction};

/// Stands in for cargo in the RUN steps (see the module doc); anything but
/// `cargo build` goes to the real cargo.
const CARGO_SHIM: &str = r#"#!/bin/sh
if [ "$1" = build ]; then
  host=$(rustc -vV | sed -n 's/^host: //p')
  exec "$WHISTLE_REAL_CARGO" fetch --locked --offline --target "$host"
fi
exec "$WHISTLE_REAL_CARGO" "$@"
"#;

#[test]
fn the_image_builds_from_the_dockerfile_replayed_in_a_scratch_folder() {
    let context = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = fs::read_to_string(context.join("Dockerfile")).expect("reading the Dockerfile");
    let dockerfile = Dockerfile::parse(&text).expect("the Dockerfile parses");
    let ignored = dockerignore(context);
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let bin = scratch.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let shim = bin.join("cargo");
    fs::write(&shim, CARGO_SHIM).unwrap();
    fs::set_permissions(&shim, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());

    let stages = dockerfile.stages();
    let built: Vec<_> = stages.iter().collect();
    let (_runtime, builders) = built.split_last().expect("a Dockerfile with stages");
    assert!(
        !builders.is_empty(),
        "no build stage before the runtime image"
    );
    let mut roots: HashMap<String, PathBuf> = HashMap::new();
    for stage in builders {
        let name = stage
            .name
            .clone()
            .unwrap_or_else(|| stage.index.to_string());
        let root = scratch.path().join(format!("stage-{name}"));
        fs::create_dir_all(&root).unwrap();
        let mut workdir = PathBuf::from("/");
        for instruction in &stage.instructions {
            match instruction {
                Instruction::From(_) => {}
                Instruction::Misc(misc)
                    if misc.instruction.content.eq_ignore_ascii_case("WORKDIR") =>
                {
                    workdir = workdir.join(misc.arguments.to_string().trim());
                    fs::create_dir_all(inside(&root, &workdir)).unwrap();
                }
                Instruction::Copy(copy) => {
                    let mut from = None;
                    for flag in &copy.flags {
                        assert_eq!(
                            flag.name.content, "from",
                            "the replay knows COPY --from only; teach it --{}",
                            flag.name.content
                        );
                        from = Some(roots.get(&flag.value.content).unwrap_or_else(|| {
                            panic!("COPY --from={}: no such stage before", flag.value.content)
                        }));
                    }
                    let target = inside(&root, &workdir.join(&copy.destination.content));
                    for source in &copy.sources {
                        let source = source.content.as_str();
                        assert!(
                            !source.contains(['*', '?', '[']),
                            "the replay copies plain paths only, not {source}"
                        );
                        match from {
                            Some(stage_root) => {
                                copy_into(&inside(stage_root, Path::new(source)), &target, &[]);
                            }
                            None => {
                                let first = Path::new(source).components().find_map(|c| match c {
                                    Component::Normal(name) => Some(name.to_string_lossy()),
                                    _ => None,
                                });
                                match first {
                                    // The whole context, less what .dockerignore names.
                                    None => copy_into(context, &target, &ignored),
                                    Some(name) => {
                                        assert!(
                                            !ignored.iter().any(|i| *i == name),
                                            "COPY {source}: .dockerignore leaves it out of the context"
                                        );
                                        copy_into(&context.join(source), &target, &[]);
                                    }
                                }
                            }
                        }
                    }
                }
                Instruction::Run(run) => {
                    let command = run.expr.as_shell().expect("RUN in shell form").to_string();
                    // The scratch folder stands in for the stage's root only for
                    // relative paths: an absolute one would reach this machine's.
                    assert!(
                        !command.split_whitespace().any(|word| word.starts_with('/')),
                        "a build stage's RUN uses relative paths (the replay runs it here): {command}"
                    );
                    let out = Command::new("sh")
                        .arg("-c")
                        .arg(&command)
                        .current_dir(inside(&root, &workdir))
                        .env("PATH", &path)
                        .env("WHISTLE_REAL_CARGO", &cargo)
                        .output()
                        .expect("running sh");
                    assert!(
                        out.status.success(),
                        "stage {name}: `{command}` failed:\n{}{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                other => panic!("stage {name}: the replay does not know {other:?}; teach it"),
            }
        }
        roots.insert(name, root);
    }
}

/// The top-level names .dockerignore leaves out of the build context. Each
/// line must be a plain name: the replay does not match patterns.
fn dockerignore(context: &Path) -> Vec<String> {
    let text = fs::read_to_string(context.join(".dockerignore")).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            assert!(
                !line.contains(['*', '?', '[', '!', '/']),
                ".dockerignore: the replay understands plain top-level names only, not {line}"
            );
            line.to_owned()
        })
        .collect()
}

/// `path` (absolute, or relative to the stage's root) inside the folder that
/// stands for the stage's root.
fn inside(root: &Path, path: &Path) -> PathBuf {
    let mut out = root.to_path_buf();
    for part in path.components() {
        match part {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => panic!("the replay does not follow `..` in {}", path.display()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// Docker's COPY of one source: a folder's contents into `target`, a file
/// into `target` (into it when it is a folder), leaving out the names in
/// `skip` at the top of a folder.
fn copy_into(source: &Path, target: &Path, skip: &[String]) {
    let meta =
        fs::symlink_metadata(source).unwrap_or_else(|e| panic!("COPY {}: {e}", source.display()));
    if meta.is_dir() {
        fs::create_dir_all(target).unwrap();
        for entry in fs::read_dir(source).unwrap() {
            let entry = entry.unwrap();
            if skip.iter().any(|name| entry.file_name() == name.as_str()) {
                continue;
            }
            copy_into(&entry.path(), &target.join(entry.file_name()), &[]);
        }
    } else if meta.is_file() {
        let destination = if target.is_dir() {
            target.join(source.file_name().unwrap())
        } else {
            fs::create_dir_all(target.parent().unwrap()).unwrap();
            target.to_path_buf()
        };
        fs::copy(source, &destination)
            .unwrap_or_else(|e| panic!("copying {}: {e}", source.display()));
    }
}
