//! The code's shape, checked: the module graph drawn from `crate::` paths has no cycle, the
//! modules an event meets first never reach up to the ones that use them, files read in a
//! sitting and functions do one step.
//!
//! `cargo test --test shape -- --nocapture` prints the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 400;
const MAX_FN_LINES: usize = 60;

/// Modules that the rest is built on: they may not import the modules that use them.
const FOUNDATIONS: &[(&str, &[&str])] = &[
    ("event", &["text"]),
    ("config", &["event", "secret", "text"]),
    ("render", &["config", "event", "secret", "text"]),
    ("rules", &["config", "event", "render", "secret", "text"]),
    ("store", &["text"]),
];

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/rules/load.rs` is `rules`).
fn module_of(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src()).ok()?;
    let first = rel
        .components()
        .next()?
        .as_os_str()
        .to_string_lossy()
        .to_string();
    let name = first.trim_end_matches(".rs").to_string();
    (!["lib", "main", "bin"].contains(&name.as_str())).then_some(name)
}

/// The code of a file without its `#[cfg(test)]` tail, comments and string contents.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or(text);
    let mut out = String::with_capacity(text.len());
    let bytes: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == '/' && bytes.get(i + 1) == Some(&'/') {
            while i < bytes.len() && bytes[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == 'r' && matches!(bytes.get(i + 1), Some('#') | Some('"')) {
            let mut j = i + 1;
            let mut hashes = 0;
            while bytes.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if bytes.get(j) == Some(&'"') {
                let close: String = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let rest: String = bytes[j + 1..].iter().collect();
                let end = rest
                    .find(&close)
                    .map_or(bytes.len(), |e| j + 1 + e + close.chars().count());
                for ch in &bytes[i..end] {
                    if *ch == '\n' {
                        out.push('\n');
                    }
                }
                out.push_str("\"\"");
                i = end;
                continue;
            }
        }
        if c == '"' {
            out.push('"');
            i += 1;
            while i < bytes.len() && bytes[i] != '"' {
                if bytes[i] == '\\' {
                    i += 1;
                }
                if bytes.get(i) == Some(&'\n') {
                    out.push('\n');
                }
                i += 1;
            }
            out.push('"');
            i += 1;
            continue;
        }
        if c == '\'' {
            // A char literal ('x', '\n', '{'), not a lifetime.
            let close = if bytes.get(i + 1) == Some(&'\\') {
                bytes[i + 2..]
                    .iter()
                    .position(|c| *c == '\'')
                    .map(|p| i + 2 + p)
            } else {
                (bytes.get(i + 2) == Some(&'\'')).then_some(i + 2)
            };
            if let Some(end) = close {
                out.push_str("' '");
                i = end + 1;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

fn imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && rest[name.len()..].starts_with("::") {
            found.insert(name);
        }
    }
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(module) = module_of(&file) else {
            continue;
        };
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        let entry = graph.entry(module.clone()).or_default();
        entry.extend(imports(&code).into_iter().filter(|m| *m != module));
    }
    graph
}

fn cycle_from(
    graph: &BTreeMap<String, BTreeSet<String>>,
    node: &str,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    if let Some(at) = path.iter().position(|n| n == node) {
        let mut cycle = path[at..].to_vec();
        cycle.push(node.to_string());
        return Some(cycle);
    }
    path.push(node.to_string());
    for next in graph.get(node).into_iter().flatten() {
        if let Some(c) = cycle_from(graph, next, path) {
            return Some(c);
        }
    }
    path.pop();
    None
}

#[test]
fn the_module_graph_has_no_cycle_and_foundations_point_down() {
    let graph = graph();
    println!("module graph (who imports whom):");
    for (module, uses) in &graph {
        println!(
            "  {module:<9} -> {}",
            uses.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    for module in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, module, &mut Vec::new()) {
            panic!("an import cycle: {}", cycle.join(" -> "));
        }
    }
    for (module, allowed) in FOUNDATIONS {
        let uses = graph.get(*module).cloned().unwrap_or_default();
        let upward: Vec<&String> = uses
            .iter()
            .filter(|u| !allowed.contains(&u.as_str()))
            .collect();
        assert!(
            upward.is_empty(),
            "`{module}` imports {upward:?}, which it may not"
        );
    }
}

#[test]
fn files_read_in_a_sitting_and_functions_do_one_step() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut long_files = Vec::new();
    let mut long_fns = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let lines = text.lines().count();
        let name = file.strip_prefix(src()).unwrap().display().to_string();
        if lines > MAX_FILE_LINES {
            long_files.push(format!("{name} ({lines} lines)"));
        }
        for (function, n) in function_lengths(&code_of(&text)) {
            if n > MAX_FN_LINES {
                long_fns.push(format!("{name}: fn {function} ({n} lines)"));
            }
        }
    }
    assert!(
        long_files.is_empty() && long_fns.is_empty(),
        "files over {MAX_FILE_LINES} lines: {long_files:#?}\nfunctions over {MAX_FN_LINES} lines: {long_fns:#?}"
    );
}

/// Each `fn` with a body and how many lines it spans, from its signature to its closing brace.
fn function_lengths(code: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let Some(after) = fn_name_start(trimmed) else {
            continue;
        };
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let mut depth = 0i32;
        let mut opened = false;
        'scan: for (offset, l) in lines[start..].iter().enumerate() {
            for c in l.chars() {
                match c {
                    ';' if !opened && depth == 0 => break 'scan,
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
                if opened && depth == 0 {
                    out.push((name.clone(), offset + 1));
                    break 'scan;
                }
            }
        }
    }
    out
}

fn fn_name_start(line: &str) -> Option<&str> {
    let mut rest = line;
    for prefix in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "async ",
        "unsafe ",
        "extern \"\" ",
    ] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    for prefix in ["async ", "unsafe "] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    rest.strip_prefix("fn ")
}

/// A file's module path below its crate root (`src/rules/load/action.rs` is
/// `["rules", "load", "action"]`; a folder's `mod.rs` is the folder).
fn file_module(root: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The modules a file's `crate::` and `super::` paths name, each as the longest path that is a
/// file of the crate.
fn file_imports(root: &Path, module: &[String], code: &str) -> BTreeSet<Vec<String>> {
    let exists = |m: &[String]| {
        let p = root.join(m.join("/"));
        p.with_extension("rs").is_file() || p.join("mod.rs").is_file()
    };
    let mut found = BTreeSet::new();
    for start in ["crate::", "super::"] {
        for (at, _) in code.match_indices(start) {
            if at > 0 && code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
            {
                continue;
            }
            let path: String = code[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let mut parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
            let mut base: Vec<String> = match parts.first() {
                Some(&"crate") => Vec::new(),
                _ => module[..module.len().saturating_sub(1)].to_vec(),
            };
            parts.remove(0);
            while parts.first() == Some(&"super") {
                parts.remove(0);
                base.pop();
            }
            let full: Vec<String> = base
                .into_iter()
                .chain(parts.iter().map(|p| p.to_string()))
                .collect();
            if let Some(k) = (1..=full.len()).rev().find(|k| exists(&full[..*k]))
                && full[..k] != *module
            {
                found.insert(full[..k].to_vec());
            }
        }
    }
    found
}

#[test]
fn no_file_imports_in_a_circle_in_herald_or_its_bench() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for crate_root in [root.join("src"), root.join("bench/src")] {
        let mut files = Vec::new();
        rust_files(&crate_root, &mut files);
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in &files {
            let module = file_module(&crate_root, file);
            let code = code_of(&std::fs::read_to_string(file).unwrap());
            let uses = file_imports(&crate_root, &module, &code);
            graph
                .entry(module.join("/"))
                .or_default()
                .extend(uses.into_iter().map(|m| m.join("/")));
        }
        for module in graph.keys() {
            if let Some(cycle) = cycle_from(&graph, module, &mut Vec::new()) {
                panic!(
                    "an import circle in {}: {}",
                    crate_root.display(),
                    cycle.join(" -> ")
                );
            }
        }
    }
}
