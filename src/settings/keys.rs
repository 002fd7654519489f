//! Refuses configuration keys that no setting reads. serde skips unknown keys
//! silently, so `[mail] transprot = "smtp"` would leave the letters in files with
//! no word to the operator; instead start-up names the key where the operator
//! wrote it and the nearest valid one.
//!
//! The valid keys are read from the `Deserialize` impls themselves (a probe
//! deserializer asks each struct for its field names), so a new field in
//! settings.rs is a valid key the moment it exists and there is no second list
//! to forget. Maps keyed by code (`departments.<code>`) take any key and check
//! what lies below it against their value type.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use config::{Value, ValueKind};
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, Visitor};

/// `Environment` names no origin of its own but this one (config 0.15).
const FROM_ENV: &str = "the environment";

/// Every unknown key in `layered`, one message for all of them, or `Ok`.
/// `env_prefix` is the environment variables' prefix, to name them back as the
/// operator spelled them. `file` is the configuration file as the operator
/// named it: config records a file's origin relative to the working directory
/// (`../x/whistle.toml`), which reads as a different file.
pub(super) fn refuse_unknown<T: DeserializeOwned>(
    layered: &Value,
    env_prefix: &str,
    file: Option<&Path>,
) -> anyhow::Result<()> {
    let shape = Shape::of::<T>();
    let mut found = Vec::new();
    walk(layered, &shape, &mut Vec::new(), &mut found);
    if found.is_empty() {
        return Ok(());
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    let messages: Vec<String> = found.iter().map(|u| u.describe(env_prefix, file)).collect();
    anyhow::bail!("{}", messages.join("; "))
}

/// What the settings types accept at one place in the tree.
#[derive(Debug, PartialEq, Eq)]
enum Shape {
    /// A value (number, string, list, enum): nothing below it is checked.
    Leaf,
    /// A struct: exactly these keys.
    Fields(BTreeMap<&'static str, Shape>),
    /// A map: any key, each holding this.
    AnyKey(Box<Shape>),
}

impl Shape {
    /// Explores `T` one path at a time: each probe walks down a known path and
    /// reports what it finds at its end.
    fn of<T: DeserializeOwned>() -> Shape {
        fn at<T: DeserializeOwned>(path: &mut Vec<Step>) -> Shape {
            match probe::<T>(path) {
                Found::Struct(fields) => Shape::Fields(
                    fields
                        .iter()
                        .map(|&field| {
                            path.push(Step::Field(field));
                            let below = at::<T>(path);
                            path.pop();
                            (field, below)
                        })
                        .collect(),
                ),
                Found::Map => {
                    path.push(Step::Entry);
                    let below = at::<T>(path);
                    path.pop();
                    Shape::AnyKey(Box::new(below))
                }
                Found::Leaf => Shape::Leaf,
            }
        }
        at::<T>(&mut Vec::new())
    }
}

#[derive(Clone, Copy)]
enum Step {
    Field(&'static str),
    Entry,
}

enum Found {
    Struct(&'static [&'static str]),
    Map,
    Leaf,
}

/// Deserializes a `T` that has only the one value on `path`, and records what
/// kind of value the type asks for at the path's end. The deserialization
/// itself always fails there; only the record matters.
fn probe<T: DeserializeOwned>(path: &[Step]) -> Found {
    let found = RefCell::new(None);
    let _ = T::deserialize(Probe {
        path,
        found: &found,
    });
    found.into_inner().unwrap_or(Found::Leaf)
}

struct Probe<'p> {
    path: &'p [Step],
    found: &'p RefCell<Option<Found>>,
}

impl Probe<'_> {
    fn end(self, found: Found) -> ProbeEnd {
        *self.found.borrow_mut() = Some(found);
        ProbeEnd
    }
}

/// The error that stops a probe once it has recorded what it came for.
#[derive(Debug)]
struct ProbeEnd;

impl fmt::Display for ProbeEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("probe ended")
    }
}

impl std::error::Error for ProbeEnd {}

impl de::Error for ProbeEnd {
    fn custom<M: fmt::Display>(_: M) -> Self {
        ProbeEnd
    }
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = ProbeEnd;

    /// Anything not a struct, map, option or newtype is a leaf. Types that
    /// buffer their input (`flatten`, untagged enums) land here too, and then
    /// nothing below them is checked rather than something wrongly refused.
    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, ProbeEnd> {
        Err(self.end(Found::Leaf))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ProbeEnd> {
        match self.path.split_first() {
            None => Err(self.end(Found::Struct(fields))),
            Some((Step::Field(field), rest)) => visitor.visit_map(OneEntry {
                key: Some(*field),
                value: Some(Probe {
                    path: rest,
                    found: self.found,
                }),
            }),
            Some((Step::Entry, _)) => Err(ProbeEnd),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeEnd> {
        match self.path.split_first() {
            None => Err(self.end(Found::Map)),
            Some((Step::Entry, rest)) => visitor.visit_map(OneEntry {
                key: Some("any"),
                value: Some(Probe {
                    path: rest,
                    found: self.found,
                }),
            }),
            Some((Step::Field(_), _)) => Err(ProbeEnd),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeEnd> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ProbeEnd> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct enum identifier
        ignored_any
    }
}

/// A map with the one entry the probe walks through.
struct OneEntry<'p> {
    key: Option<&'static str>,
    value: Option<Probe<'p>>,
}

impl<'de> MapAccess<'de> for OneEntry<'_> {
    type Error = ProbeEnd;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ProbeEnd> {
        match self.key.take() {
            Some(key) => seed
                .deserialize(BorrowedStrDeserializer::new(key))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ProbeEnd> {
        seed.deserialize(self.value.take().ok_or(ProbeEnd)?)
    }
}

/// One key no setting reads.
struct Unknown {
    path: Vec<String>,
    /// A file's path, `FROM_ENV`, or `None` for the embedded defaults.
    origin: Option<String>,
    /// The keys valid beside it.
    siblings: Vec<&'static str>,
}

impl Unknown {
    fn describe(&self, env_prefix: &str, file: Option<&Path>) -> String {
        let (parent, name) = self.path.split_at(self.path.len() - 1);
        let name = &name[0];
        let sibling_path = |sibling: &str| {
            let mut path = parent.to_vec();
            path.push(sibling.to_owned());
            path
        };
        let from_env = self.origin.as_deref() == Some(FROM_ENV);
        // config lowercases environment variable names; spelling them back in
        // capitals is how operators write them.
        let as_env = |path: &[String]| {
            let mut var = env_prefix.to_owned();
            for segment in path {
                var.push_str("__");
                var.push_str(&segment.to_uppercase());
            }
            var
        };
        let mut text = if from_env {
            format!(
                "unknown configuration key {} (read as `{}`",
                as_env(&self.path),
                self.path.join(".")
            )
        } else {
            let place = match &self.origin {
                Some(origin) => match file {
                    Some(file) => format!("in {}", file.display()),
                    None => format!("in {origin}"),
                },
                None => "in the embedded defaults".to_owned(),
            };
            format!(
                "unknown configuration key `{}` ({place}",
                self.path.join(".")
            )
        };
        match nearest(name, &self.siblings) {
            Some(near) if from_env => {
                let path = sibling_path(near);
                text += &format!("; did you mean {}?", as_env(&path));
            }
            Some(near) => {
                text += &format!("; did you mean `{}`?", sibling_path(near).join("."));
            }
            None if self.siblings.is_empty() => {}
            None => {
                let here = if parent.is_empty() {
                    "at the top level".to_owned()
                } else {
                    format!("under `{}`", parent.join("."))
                };
                text += &format!("; valid keys {here}: {}", self.siblings.join(", "));
            }
        }
        text.push(')');
        text
    }
}

/// The valid key most like `name`, if any is like it at all: a typo, not a
/// different word.
fn nearest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|&c| (strsim::jaro_winkler(name, c), c))
        .filter(|&(score, _)| score >= 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

fn walk(value: &Value, shape: &Shape, path: &mut Vec<String>, found: &mut Vec<Unknown>) {
    let ValueKind::Table(table) = &value.kind else {
        // A scalar where a table belongs is a type error; deserializing says so.
        return;
    };
    match shape {
        Shape::Leaf => {}
        Shape::AnyKey(below) => {
            for (key, value) in table {
                path.push(key.clone());
                walk(value, below, path, found);
                path.pop();
            }
        }
        Shape::Fields(fields) => {
            for (key, value) in table {
                path.push(key.clone());
                match fields.get(key.as_str()) {
                    Some(below) => walk(value, below, path, found),
                    None => found.push(Unknown {
                        path: path.clone(),
                        origin: origin(value).map(str::to_owned),
                        siblings: fields.keys().copied().collect(),
                    }),
                }
                path.pop();
            }
        }
    }
}

/// Where a value was written. A table made up by environment variables has no
/// origin of its own, but its leaves do.
fn origin(value: &Value) -> Option<&str> {
    if let Some(origin) = value.origin() {
        return Some(origin);
    }
    match &value.kind {
        ValueKind::Table(table) => table.values().find_map(origin),
        ValueKind::Array(items) => items.iter().find_map(origin),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[allow(dead_code)]
    #[derive(Deserialize)]
    struct Outer {
        plain: u32,
        optional: Option<Inner>,
        #[serde(default)]
        table: BTreeMap<String, Inner>,
        #[serde(rename = "renamed")]
        _field: Vec<String>,
        #[serde(skip)]
        skipped: bool,
    }

    #[allow(dead_code)]
    #[derive(Deserialize)]
    struct Inner {
        name: String,
        kind: Kind,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        A,
    }

    #[test]
    fn the_shape_comes_from_the_deserialize_impls() {
        let inner = || {
            Shape::Fields(BTreeMap::from([
                ("name", Shape::Leaf),
                ("kind", Shape::Leaf),
            ]))
        };
        assert_eq!(
            Shape::of::<Outer>(),
            Shape::Fields(BTreeMap::from([
                ("plain", Shape::Leaf),
                ("optional", inner()),
                ("table", Shape::AnyKey(Box::new(inner()))),
                ("renamed", Shape::Leaf),
            ]))
        );
    }

    #[test]
    fn nearest_finds_typos_not_other_words() {
        let keys = ["transport", "file_dir", "from", "smtp"];
        assert_eq!(nearest("transprot", &keys), Some("transport"));
        assert_eq!(nearest("filedir", &keys), Some("file_dir"));
        assert_eq!(nearest("zzzzzz", &keys), None);
    }
}
