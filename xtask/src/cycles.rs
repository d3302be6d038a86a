//! `cargo xtask cycles`: no cycle between modules, in any crate of the
//! workspace.
//!
//! The graph comes from crates.io's `cargo-modules` (`dependencies`, its
//! "uses" edges, re-exports resolved to where items are defined). Its own
//! `--acyclic` works on items, where a type and its constructor already
//! form a cycle, so this step folds the items into modules: an item that
//! uses another counts as an edge between the two sibling modules that
//! hold them (`a::x` using `b::y` is `a -> b`; `a::x` using `a::y::z` is
//! inside `a` and ignored; a child using its parent's items is the
//! parent's business and ignored). Any strongly connected set of two or
//! more siblings is reported with one item edge per module edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, ExitCode};

/// Why the check could not run (a cycle is a failed check, not an error).
#[derive(Debug, thiserror::Error)]
pub enum CyclesError {
    /// `cargo metadata` or `cargo modules` could not be started.
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The command.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// A command failed.
    #[error("`{command}` failed: {stderr}")]
    Failed {
        /// The command.
        command: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// `cargo metadata` printed something that is not its JSON.
    #[error("cannot read `cargo metadata`'s output: {0}")]
    Metadata(String),
}

/// One crate target to check: `--lib` or `--bin NAME` of a package.
struct Target {
    package: String,
    flag: Vec<String>,
}

/// Checks every library and binary target of the workspace.
pub fn run(root: &Path) -> Result<ExitCode, CyclesError> {
    let mut clean = true;
    for target in targets(root)? {
        let dot = dependencies(root, &target)?;
        let graph = ModuleGraph::from_dot(&dot);
        let cycles = graph.cycles();
        let name = format!("{} {}", target.package, target.flag.join(" "));
        if cycles.is_empty() {
            println!("{name}: no module cycle");
            continue;
        }
        clean = false;
        println!("{name}: {} module cycle(s)", cycles.len());
        for cycle in cycles {
            println!("  {}", cycle.join(" <-> "));
            for (from, to, example) in graph.edges_within(&cycle) {
                println!("    {from} -> {to}   ({example})");
            }
        }
    }
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn targets(root: &Path) -> Result<Vec<Target>, CyclesError> {
    let out = output(
        Command::new(env!("CARGO"))
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .current_dir(root),
    )?;
    let json: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| CyclesError::Metadata(e.to_string()))?;
    let packages = json["packages"]
        .as_array()
        .ok_or_else(|| CyclesError::Metadata("no `packages`".into()))?;
    let mut targets = Vec::new();
    for package in packages {
        let Some(name) = package["name"].as_str() else {
            continue;
        };
        for target in package["targets"].as_array().into_iter().flatten() {
            let kinds: Vec<&str> = target["kind"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|k| k.as_str())
                .collect();
            let flag = if kinds.contains(&"lib") {
                vec!["--lib".to_owned()]
            } else if kinds.contains(&"bin") {
                let bin = target["name"].as_str().unwrap_or(name);
                vec!["--bin".to_owned(), bin.to_owned()]
            } else {
                continue;
            };
            targets.push(Target {
                package: name.to_owned(),
                flag,
            });
        }
    }
    Ok(targets)
}

fn dependencies(root: &Path, target: &Target) -> Result<String, CyclesError> {
    output(
        Command::new(env!("CARGO"))
            .args(["modules", "dependencies", "-p", &target.package])
            .args(&target.flag)
            .args([
                "--all-features",
                "--no-externs",
                "--no-sysroot",
                "--no-owns",
            ])
            .current_dir(root),
    )
}

fn output(command: &mut Command) -> Result<String, CyclesError> {
    let shown = format!("{command:?}").replace('"', "");
    let out = command.output().map_err(|source| CyclesError::Spawn {
        command: shown.clone(),
        source,
    })?;
    if !out.status.success() {
        let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if stderr.contains("no such command: `modules`") {
            stderr.push_str("\ninstall it with `cargo install --locked cargo-modules@0.27.0`");
        }
        return Err(CyclesError::Failed {
            command: shown,
            stderr,
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Edges between sibling modules, each with one item edge that makes it.
#[derive(Default)]
struct ModuleGraph {
    edges: BTreeMap<(String, String), String>,
}

impl ModuleGraph {
    fn from_dot(dot: &str) -> Self {
        // Items (types, functions, traits, …) are listed as nodes; a
        // module is any prefix of a path that is not an item (modules
        // without edges of their own are not always listed).
        let mut items = BTreeSet::new();
        let mut uses = Vec::new();
        for line in dot.lines().map(str::trim) {
            let mut quoted = line.split('"').skip(1).step_by(2);
            let Some(first) = quoted.next() else { continue };
            if line.contains("->") {
                if line.contains("label=\"uses\"") {
                    let Some(second) = quoted.next() else {
                        continue;
                    };
                    uses.push((first.to_owned(), second.to_owned()));
                }
            } else if line.ends_with(" node")
                && !line.ends_with("// \"crate\" node")
                && !line.ends_with("// \"mod\" node")
            {
                items.insert(first.to_owned());
            }
        }
        let mut graph = Self::default();
        for (from, to) in uses {
            let (a, b) = (module_of(&from, &items), module_of(&to, &items));
            if let Some(edge) = siblings(a, b) {
                graph
                    .edges
                    .entry(edge)
                    .or_insert_with(|| format!("{from} uses {to}"));
            }
        }
        graph
    }

    /// The strongly connected sets of two or more modules (Tarjan).
    fn cycles(&self) -> Vec<Vec<String>> {
        let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (a, b) in self.edges.keys() {
            next.entry(a).or_default().push(b);
            next.entry(b).or_default();
        }
        let mut state = Tarjan::default();
        let nodes: Vec<&str> = next.keys().copied().collect();
        for node in nodes {
            if !state.index.contains_key(node) {
                state.visit(node, &next);
            }
        }
        state.found
    }

    fn edges_within<'a>(
        &'a self,
        set: &'a [String],
    ) -> impl Iterator<Item = (&'a str, &'a str, &'a str)> + 'a {
        self.edges
            .iter()
            .filter(|((a, b), _)| set.contains(a) && set.contains(b))
            .map(|((a, b), example)| (a.as_str(), b.as_str(), example.as_str()))
    }
}

#[derive(Default)]
struct Tarjan<'a> {
    counter: usize,
    index: BTreeMap<&'a str, usize>,
    low: BTreeMap<&'a str, usize>,
    stack: Vec<&'a str>,
    found: Vec<Vec<String>>,
}

impl<'a> Tarjan<'a> {
    fn visit(&mut self, node: &'a str, next: &BTreeMap<&'a str, Vec<&'a str>>) {
        self.index.insert(node, self.counter);
        self.low.insert(node, self.counter);
        self.counter += 1;
        self.stack.push(node);
        for &to in next.get(node).into_iter().flatten() {
            if !self.index.contains_key(to) {
                self.visit(to, next);
                let low = self.low[node].min(self.low[to]);
                self.low.insert(node, low);
            } else if self.stack.contains(&to) {
                let low = self.low[node].min(self.index[to]);
                self.low.insert(node, low);
            }
        }
        if self.low[node] == self.index[node] {
            let mut set = Vec::new();
            while let Some(top) = self.stack.pop() {
                set.push(top.to_owned());
                if top == node {
                    break;
                }
            }
            if set.len() > 1 {
                set.sort();
                self.found.push(set);
            }
        }
    }
}

/// The innermost module (or the crate) that holds `item`: its path
/// without the items it is inside (a method is inside its type).
fn module_of<'a>(item: &'a str, items: &BTreeSet<String>) -> &'a str {
    let mut path = item;
    while items.contains(path) {
        match path.rfind("::") {
            Some(end) => path = &path[..end],
            None => break,
        }
    }
    path
}

/// The two sibling modules under the deepest common parent of `a` and
/// `b`, or `None` when one holds the other.
fn siblings(a: &str, b: &str) -> Option<(String, String)> {
    let (a_parts, b_parts): (Vec<&str>, Vec<&str>) =
        (a.split("::").collect(), b.split("::").collect());
    let common = a_parts
        .iter()
        .zip(&b_parts)
        .take_while(|(x, y)| x == y)
        .count();
    if common == a_parts.len() || common == b_parts.len() {
        return None;
    }
    Some((a_parts[..=common].join("::"), b_parts[..=common].join("::")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A graph in cargo-modules' format: `items` as nodes, `uses` as
    /// edges (modules are whatever is not an item).
    fn dot(items: &[&str], uses: &[(&str, &str)]) -> String {
        let mut text = String::from("    \"c\" [label=\"crate|c\"]; // \"crate\" node\n");
        text.push_str("    \"c::a\" [label=\"mod|a\"]; // \"mod\" node\n");
        for item in items {
            text.push_str(&format!(
                "    \"{item}\" [label=\"pub struct|x\"]; // \"struct\" node\n"
            ));
        }
        for (a, b) in uses {
            text.push_str(&format!(
                "    \"{a}\" -> \"{b}\" [label=\"uses\", color=\"#7f7f7f\"]; // \"uses\" edge\n"
            ));
        }
        text
    }

    #[test]
    fn a_cycle_through_items_of_sibling_modules_is_found() {
        let graph = ModuleGraph::from_dot(&dot(
            &["c::a", "c::b", "c::d"],
            &[
                ("c::a::X::new", "c::b::Y"),
                ("c::b::Y", "c::a::X"),
                ("c::d", "c::a::X"),
            ],
        ));
        assert_eq!(graph.cycles(), [vec!["c::a".to_owned(), "c::b".to_owned()]]);
        let edges: Vec<_> = graph
            .edges_within(&graph.cycles()[0])
            .map(|e| e.2.to_owned())
            .collect();
        assert_eq!(edges, ["c::a::X::new uses c::b::Y", "c::b::Y uses c::a::X"]);
    }

    #[test]
    fn a_type_and_its_method_parents_and_children_and_re_exports_are_no_cycle() {
        let graph = ModuleGraph::from_dot(&dot(
            &["c::a::X", "c::a::X::new", "c::a::inner::Z", "c::root_fn"],
            &[
                ("c::a::X::new", "c::a::X"),
                ("c::a::inner::Z", "c::a::X"),
                ("c::a::X", "c::a::inner::Z"),
                ("c", "c::a::X"),
                ("c::a::X", "c::root_fn"),
            ],
        ));
        assert!(graph.cycles().is_empty());
    }

    #[test]
    fn nested_siblings_are_checked_under_their_parent() {
        let graph = ModuleGraph::from_dot(&dot(
            &["c::s::p::A", "c::s::q::B"],
            &[("c::s::p::A", "c::s::q::B"), ("c::s::q::B", "c::s::p::A")],
        ));
        assert_eq!(
            graph.cycles(),
            [vec!["c::s::p".to_owned(), "c::s::q".to_owned()]]
        );
    }
}
