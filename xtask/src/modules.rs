//! Import cycles between the top-level modules of a crate.
//!
//! A module `a` imports `b` when a non-comment line of one of `a`'s files
//! (outside its `#[cfg(test)] mod tests`) names `crate::b`, directly or in a
//! `crate::{..}` group. Rustdoc links in comments are not imports. The
//! strongly connected components of that graph with more than one module
//! are its cycles. Binaries under `src/bin/` are left out: each is a crate
//! of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The top-level modules of the crate whose sources are `src`, each with
/// its files: `lib.rs`/`main.rs` is the module `crate`, `a.rs` and
/// `a/**.rs` the module `a`.
fn modules(src: &Path) -> io::Result<BTreeMap<String, Vec<PathBuf>>> {
    let mut out: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                if path != src.join("bin") {
                    stack.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap_or(&path);
            let first = rel
                .components()
                .next()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .unwrap_or_default();
            let name = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
            let name = match name.as_str() {
                "lib" | "main" => "crate".to_owned(),
                _ => name,
            };
            out.entry(name).or_default().push(path);
        }
    }
    Ok(out)
}

/// The code of a file that counts for imports: no comment lines, and
/// nothing from its unit-test module on.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The identifiers right after each `crate::`, and inside each
/// `crate::{..}` group.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if !part.is_empty() {
                    names.insert(part.to_owned());
                }
            }
        } else {
            names.insert(ident(rest));
        }
    }
    names
}

/// The cycles between the top-level modules of the crate whose sources are
/// `src`, each as its modules' names in order; empty when there is none.
///
/// # Errors
///
/// A file or folder that cannot be read.
pub fn import_cycles(src: &Path) -> io::Result<Vec<Vec<String>>> {
    let modules = modules(src)?;
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, files) in &modules {
        let edges = graph.entry(name.as_str()).or_default();
        for file in files {
            for target in crate_paths(&code(&fs::read_to_string(file)?)) {
                if let Some((key, _)) = modules.get_key_value(&target)
                    && key != name
                    && key != "crate"
                {
                    edges.insert(key.as_str());
                }
            }
        }
    }
    Ok(strongly_connected(&graph)
        .into_iter()
        .filter(|c| c.len() > 1)
        .collect())
}

/// Tarjan's strongly connected components.
fn strongly_connected(graph: &BTreeMap<&str, BTreeSet<&str>>) -> Vec<Vec<String>> {
    struct State<'a> {
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(v: &'a str, graph: &BTreeMap<&'a str, BTreeSet<&'a str>>, s: &mut State<'a>) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for &w in graph.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(w, graph, s);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            component.sort();
            s.out.push(component);
        }
    }
    let mut state = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for &v in graph.keys() {
        if !state.index.contains_key(v) {
            visit(v, graph, &mut state);
        }
    }
    state.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_is_found_and_comments_and_tests_do_not_count() {
        let dir = std::env::temp_dir().join(format!("xtask-cycles-{}", std::process::id()));
        let src = dir.join("src");
        fs::create_dir_all(src.join("b")).unwrap();
        fs::write(src.join("lib.rs"), "mod a;\nmod b;\nmod c;\n").unwrap();
        fs::write(src.join("a.rs"), "use crate::{b::X, c};\n").unwrap();
        fs::write(src.join("b").join("mod.rs"), "use crate::a::Y;\n").unwrap();
        // A doc link and a unit test naming `a` are not imports.
        fs::write(
            src.join("c.rs"),
            "/// See [`crate::a`].\npub struct Z;\n#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n",
        )
        .unwrap();
        let cycles = import_cycles(&src).unwrap();
        assert_eq!(cycles, vec![vec!["a".to_owned(), "b".to_owned()]]);
        fs::write(src.join("b").join("mod.rs"), "// crate::a\npub struct X;\n").unwrap();
        assert!(import_cycles(&src).unwrap().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
