//! Parameters declared once. [`params!`](crate::params!) writes a model's parameter struct, its
//! `Default` and its schema — each field's name, kind, default, valid range and one line of help —
//! from a single declaration per field. The schema is what the CLI's flags, a plan's
//! `[train.<model>]` table and its errors, the Python keyword arguments and the documentation's
//! parameter tables are made from, so none of them repeats a default or a bound.
//!
//! ```
//! botify_core::params! {
//!     /// A toy model's parameters.
//!     pub struct Toy {
//!         /// Latent factors.
//!         factors: usize = 64 => range(1.0, 4096.0);
//!         /// Step size.
//!         learning_rate: f32 = 0.05 => above(0.0).alias("lr");
//!     }
//! }
//! use botify_core::params::Schema;
//! let mut t = Toy::default();
//! assert!(t.check().is_ok());
//! t.factors = 0;
//! assert_eq!(t.check().unwrap_err(), "factors 0 must be from 1 to 4096");
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// What values a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Int,
    /// A float of this many bits (32 or 64): an `f32` is shown by its shortest decimal.
    Float(u8),
    /// One of these names.
    Choice(&'static [&'static str]),
    Path,
    /// Comma-separated on the command line, an array in a plan or from Python.
    List(&'static Kind),
}

impl Kind {
    /// The Python annotation of the kind.
    pub fn python(&self) -> String {
        match self {
            Kind::Int => "int".into(),
            Kind::Float(_) => "float".into(),
            Kind::Choice(names) => {
                let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
                format!("Literal[{}]", quoted.join(", "))
            }
            Kind::Path => "PathLike".into(),
            Kind::List(k) => format!("Sequence[{}]", k.python()),
        }
    }

    /// What a flag's value looks like in `--help`: `N`, `X`, `warp|bpr`, `A,B,...`, `PATH`.
    pub fn placeholder(&self) -> String {
        match self {
            Kind::Int => "N".into(),
            Kind::Float(_) => "X".into(),
            Kind::Choice(names) => names.join("|"),
            Kind::Path => "PATH".into(),
            Kind::List(_) => "A,B,...".into(),
        }
    }

    /// A short name for docs and `--help`.
    pub fn describe(&self) -> String {
        match self {
            Kind::Int => "integer".into(),
            Kind::Float(_) => "number".into(),
            Kind::Choice(names) => format!("one of {}", names.join(", ")),
            Kind::Path => "path".into(),
            Kind::List(k) => format!("list of {}", k.describe()),
        }
    }
}

/// A setting every model shares; a field marked with it takes the setting's value unless its
/// own table or flag sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// Tracks per written list.
    K,
    /// A listen at least this long is liked.
    Threshold,
    /// The seed of everything random.
    Seed,
}

impl Setting {
    pub fn name(self) -> &'static str {
        match self {
            Setting::K => "k",
            Setting::Threshold => "threshold",
            Setting::Seed => "seed",
        }
    }
}

/// A field's valid values and how it is offered. Made by the `const` functions of [`rule`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// The lower bound and whether it is allowed itself.
    pub min: Option<(f64, bool)>,
    /// The upper bound and whether it is allowed itself.
    pub max: Option<(f64, bool)>,
    /// Filled from a shared setting when not given.
    pub shared: Option<Setting>,
    /// A second, shorter flag (`--lr` for `--learning-rate`).
    pub alias: Option<&'static str>,
    /// Why the bound is there, added to its error.
    pub why: &'static str,
    /// Must be given (a path with no sensible default).
    pub required: bool,
}

/// The rules a `params!` field ends with (`=> range(1.0, 4096.0).alias("k")`).
pub mod rule {
    use super::{Rule, Setting};

    /// Any value (floats must still be finite).
    pub const fn any() -> Rule {
        Rule {
            min: None,
            max: None,
            shared: None,
            alias: None,
            why: "",
            required: false,
        }
    }
    /// At least `lo`.
    pub const fn at_least(lo: f64) -> Rule {
        Rule {
            min: Some((lo, true)),
            ..any()
        }
    }
    /// More than `lo`.
    pub const fn above(lo: f64) -> Rule {
        Rule {
            min: Some((lo, false)),
            ..any()
        }
    }
    /// From `lo` to `hi`, both allowed.
    pub const fn range(lo: f64, hi: f64) -> Rule {
        Rule {
            min: Some((lo, true)),
            max: Some((hi, true)),
            ..any()
        }
    }
    /// A share in [0, 1).
    pub const fn share() -> Rule {
        at_least(0.0).below(1.0)
    }
    /// The shared setting's value unless given.
    pub const fn shared(s: Setting) -> Rule {
        Rule {
            shared: Some(s),
            ..any()
        }
    }
    /// A path that must be given.
    pub const fn required() -> Rule {
        Rule {
            required: true,
            ..any()
        }
    }

    impl Rule {
        /// Less than `hi`.
        pub const fn below(self, hi: f64) -> Rule {
            Rule {
                max: Some((hi, false)),
                ..self
            }
        }
        /// At most `hi`.
        pub const fn at_most(self, hi: f64) -> Rule {
            Rule {
                max: Some((hi, true)),
                ..self
            }
        }
        pub const fn alias(self, flag: &'static str) -> Rule {
            Rule {
                alias: Some(flag),
                ..self
            }
        }
        pub const fn why(self, why: &'static str) -> Rule {
            Rule { why, ..self }
        }
        pub const fn shared(self, s: Setting) -> Rule {
            Rule {
                shared: Some(s),
                ..self
            }
        }
    }
}

/// One declared parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field {
    pub name: &'static str,
    /// One line (the doc comment of the declaration).
    pub help: &'static str,
    pub kind: Kind,
    pub rule: Rule,
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl Field {
    /// The help line without the doc comment's leading space.
    pub fn help(&self) -> &'static str {
        self.help.trim()
    }

    /// `--learning-rate` for `learning_rate`, without the dashes.
    pub fn flag(&self) -> String {
        self.name.replace('_', "-")
    }

    /// The valid values in words (`at least 1`, `in [0, 1)`), empty when any value goes.
    pub fn bounds(&self) -> String {
        let r = &self.rule;
        match (r.min, r.max) {
            (Some((lo, true)), Some((hi, true))) if matches!(self.kind, Kind::Int) => {
                format!("{} to {}", number(lo), number(hi))
            }
            (Some((lo, a)), Some((hi, b))) => format!(
                "in {}{}, {}{}",
                if a { "[" } else { "(" },
                number(lo),
                number(hi),
                if b { "]" } else { ")" }
            ),
            (Some((lo, true)), None) => format!("at least {}", number(lo)),
            (Some((lo, false)), None) => format!("more than {}", number(lo)),
            (None, Some((hi, true))) => format!("at most {}", number(hi)),
            (None, Some((hi, false))) => format!("less than {}", number(hi)),
            (None, None) => String::new(),
        }
    }

    /// A value as written on the command line (`--hidden 128,64`), checked.
    pub fn parse(&self, text: &str) -> Result<Value, String> {
        let v = parse_kind(&self.kind, text.trim())
            .map_err(|e| format!("{} {text:?}: {e}", self.name))?;
        self.check(&v)?;
        Ok(v)
    }

    /// `v` against the field's kind and bounds; the error names the field.
    pub fn check(&self, v: &Value) -> Result<(), String> {
        check_kind(self, &self.kind, v)
    }
}

fn parse_kind(kind: &Kind, text: &str) -> Result<Value, String> {
    match kind {
        Kind::Int => text
            .parse::<u64>()
            .map(Value::from)
            .or_else(|_| text.parse::<i64>().map(Value::from))
            .map_err(|_| "not an integer".to_string()),
        Kind::Float(_) => match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::from(f)),
            _ => Err("not a finite number".into()),
        },
        Kind::Choice(names) if names.contains(&text) => Ok(Value::from(text)),
        Kind::Choice(names) => Err(format!("not one of {}", names.join(", "))),
        Kind::Path => Ok(Value::from(text)),
        Kind::List(k) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| parse_kind(k, s))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
    }
}

fn check_kind(f: &Field, kind: &Kind, v: &Value) -> Result<(), String> {
    let name = f.name;
    match kind {
        Kind::Int | Kind::Float(_) => {
            let x = match v {
                Value::Number(n) => n.as_f64(),
                _ => None,
            };
            let Some(x) = x.filter(|x| x.is_finite()) else {
                return Err(format!("{name} {v} must be a finite number"));
            };
            if matches!(kind, Kind::Int) && (x.fract() != 0.0 || x < 0.0) {
                return Err(format!("{name} {v} must be a whole number ≥ 0"));
            }
            let r = &f.rule;
            let low = r
                .min
                .is_some_and(|(lo, incl)| if incl { x < lo } else { x <= lo });
            let high = r
                .max
                .is_some_and(|(hi, incl)| if incl { x > hi } else { x >= hi });
            if low || high {
                let why = if r.why.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", r.why)
                };
                let bounds = f.bounds();
                let bounds = match bounds.strip_prefix("in ") {
                    Some(b) => format!("be in {b}"),
                    None if bounds.contains(" to ") => format!("be from {bounds}"),
                    None => format!("be {bounds}"),
                };
                return Err(format!("{name} {v} must {bounds}{why}"));
            }
            Ok(())
        }
        Kind::Choice(names) => match v.as_str() {
            Some(s) if names.contains(&s) => Ok(()),
            _ => Err(format!("{name} {v} is not one of {}", names.join(", "))),
        },
        Kind::Path => match v.as_str() {
            Some("") if f.rule.required => Err(format!("{name} is required")),
            Some(_) => Ok(()),
            None => Err(format!("{name} {v} must be a path")),
        },
        Kind::List(k) => match v.as_array() {
            Some(items) => items.iter().try_for_each(|x| check_kind(f, k, x)),
            None => Err(format!("{name} {v} must be a list")),
        },
    }
}

/// A type a parameter can have.
pub trait ParamType {
    const KIND: Kind;
}

macro_rules! kinds {
    ($($t:ty => $k:expr),* $(,)?) => { $(impl ParamType for $t { const KIND: Kind = $k; })* };
}
kinds!(usize => Kind::Int, u32 => Kind::Int, u64 => Kind::Int, f32 => Kind::Float(32),
    f64 => Kind::Float(64), std::path::PathBuf => Kind::Path);

impl<T: ParamType> ParamType for Vec<T> {
    const KIND: Kind = Kind::List(&T::KIND);
}

/// A parameter struct written by [`params!`](crate::params!).
pub trait Schema:
    Default + Clone + std::fmt::Debug + Serialize + DeserializeOwned + Send + Sync + 'static
{
    const FIELDS: &'static [Field];

    /// Every field against its rule; the error names the first field at fault.
    fn check(&self) -> Result<(), String> {
        let map = self.to_map();
        Self::FIELDS
            .iter()
            .try_for_each(|f| f.check(map.get(f.name).unwrap_or(&Value::Null)))
    }

    /// The values by field name; an `f32` as its shortest decimal (0.05, not 0.0500000007).
    fn to_map(&self) -> Map<String, Value> {
        let Ok(Value::Object(mut map)) = serde_json::to_value(self) else {
            return Map::new();
        };
        for f in Self::FIELDS {
            if let Some(v) = map.get_mut(f.name) {
                tidy(&f.kind, v);
            }
        }
        map
    }

    /// The struct from values by name, the rest default; an unknown name is an error that lists
    /// the known ones.
    fn from_map(map: Map<String, Value>) -> Result<Self, String> {
        if let Some(k) = map
            .keys()
            .find(|k| !Self::FIELDS.iter().any(|f| f.name == k.as_str()))
        {
            let known: Vec<&str> = Self::FIELDS.iter().map(|f| f.name).collect();
            return Err(format!(
                "no parameter {k:?}; the parameters are: {}",
                known.join(", ")
            ));
        }
        for f in Self::FIELDS {
            if let Some(v) = map.get(f.name) {
                f.check(v)?;
            }
        }
        serde_json::from_value(Value::Object(map)).map_err(|e| e.to_string())
    }
}

/// An `f32` as the `f64` of its shortest decimal: 0.7, not the 0.699999988 it widens to, so a
/// value shown in JSON, TOML or Python reads as it was written and parses back to the same `f32`.
pub fn short_f32(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

fn tidy(kind: &Kind, v: &mut Value) {
    match (kind, v) {
        (Kind::Float(32), Value::Number(n)) => {
            if let Some(s) = n
                .as_f64()
                .and_then(|x| serde_json::Number::from_f64(short_f32(x as f32)))
            {
                *n = s;
            }
        }
        (Kind::List(k), Value::Array(items)) => items.iter_mut().for_each(|x| tidy(k, x)),
        _ => {}
    }
}

/// A value for people: `0.05`, `warp`, `128,64`, `""` for an empty path.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(show).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Declares a parameter struct once: each field with its type, default, rule (see [`rule`]) and
/// a doc comment, which is its help line. Writes the struct (serde: unknown fields are errors,
/// missing ones default), its `Default` and its [`Schema`].
#[macro_export]
macro_rules! params {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $doc:literal])+
                $field:ident : $ty:ty = $default:expr => $rule:expr ;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(deny_unknown_fields, default)]
        $vis struct $name {
            $( $(#[doc = $doc])+ pub $field: $ty, )*
        }

        impl ::core::default::Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* }
            }
        }

        impl $crate::params::Schema for $name {
            const FIELDS: &'static [$crate::params::Field] = &[
                $(
                    $crate::params::Field {
                        name: stringify!($field),
                        help: concat!($($doc),+),
                        kind: <$ty as $crate::params::ParamType>::KIND,
                        rule: {
                            #[allow(unused_imports)]
                            use $crate::params::rule::*;
                            #[allow(unused_imports)]
                            use $crate::params::Setting;
                            $rule
                        },
                    },
                )*
            ];
        }
    };
}

/// Declares an enum of named choices once: serde, `FromStr` and the schema's kind all use the
/// names given. Variants may carry attributes (docs, `#[default]` with `#[derive(Default)]`).
#[macro_export]
macro_rules! choices {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )*
        }

        impl $name {
            /// The name plans, flags and Python use.
            pub fn name(self) -> &'static str {
                match self { $( $name::$variant => $text, )* }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s.trim() {
                    $( $text => Ok($name::$variant), )*
                    other => Err(format!(
                        "{other:?} is not one of {}",
                        [$($text),*].join(", ")
                    )),
                }
            }
        }

        impl $crate::params::ParamType for $name {
            const KIND: $crate::params::Kind = $crate::params::Kind::Choice(&[$($text),*]);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::choices! {
        /// A test choice.
        pub enum Shape {
            /// Round.
            Round = "round",
            Square = "square",
        }
    }

    crate::params! {
        /// Test parameters.
        pub struct P {
            /// Size.
            dim: usize = 8 => range(1.0, 64.0);
            /// Step.
            lr: f32 = 0.05 => above(0.0).alias("step");
            /// Share held out.
            validation: f64 = 0.1 => share().why("some must train");
            /// Layers.
            hidden: Vec<usize> = vec![4, 2] => at_least(1.0);
            /// The shape.
            shape: Shape = Shape::Round => any();
            /// Liked from.
            threshold: f32 = crate::defaults::LIKED => shared(Setting::Threshold).at_most(1.0);
        }
    }

    fn field(name: &str) -> &'static Field {
        P::FIELDS.iter().find(|f| f.name == name).unwrap()
    }

    #[test]
    fn the_schema_comes_from_the_declaration() {
        let names: Vec<&str> = P::FIELDS.iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            ["dim", "lr", "validation", "hidden", "shape", "threshold"]
        );
        assert_eq!(field("dim").help(), "Size.");
        assert_eq!(field("hidden").kind, Kind::List(&Kind::Int));
        assert_eq!(field("shape").kind, Kind::Choice(&["round", "square"]));
        assert_eq!(field("lr").rule.alias, Some("step"));
        assert_eq!(field("threshold").rule.shared, Some(Setting::Threshold));
        assert_eq!(field("dim").bounds(), "1 to 64");
        assert_eq!(field("validation").bounds(), "in [0, 1)");
        assert_eq!(field("lr").bounds(), "more than 0");
    }

    #[test]
    fn values_are_checked_against_their_rules_and_errors_name_the_field() {
        assert!(P::default().check().is_ok());
        type Edit = fn(&mut P);
        let cases: [(Edit, &str); 5] = [
            (|p| p.dim = 0, "dim 0 must be from 1 to 64"),
            (|p| p.lr = 0.0, "lr 0.0 must be more than 0"),
            (|p| p.lr = f32::NAN, "lr null must be a finite number"),
            (
                |p| p.validation = 1.0,
                "validation 1.0 must be in [0, 1) (some must train)",
            ),
            (|p| p.hidden = vec![3, 0], "hidden 0 must be at least 1"),
        ];
        for (edit, want) in cases {
            let mut p = P::default();
            edit(&mut p);
            assert_eq!(p.check().unwrap_err(), want);
        }
    }

    #[test]
    fn flags_parse_by_kind_and_maps_round_trip() {
        assert_eq!(
            field("hidden").parse("16, 8").unwrap(),
            serde_json::json!([16, 8])
        );
        assert!(
            field("shape")
                .parse("oval")
                .unwrap_err()
                .contains("round, square")
        );
        assert!(
            field("dim")
                .parse("x")
                .unwrap_err()
                .contains("not an integer")
        );
        assert!(field("dim").parse("65").is_err());
        let map = P::default().to_map();
        assert_eq!(map["lr"], serde_json::json!(0.05));
        assert_eq!(show(&map["hidden"]), "4,2");
        assert_eq!(P::from_map(map).unwrap(), P::default());
        let mut given = Map::new();
        given.insert("dimm".into(), Value::from(3));
        let e = P::from_map(given).unwrap_err();
        assert!(e.contains("\"dimm\"") && e.contains("dim, lr"), "{e}");
        let mut given = Map::new();
        given.insert("dim".into(), Value::from(0));
        assert!(P::from_map(given).unwrap_err().starts_with("dim 0"));
        assert_eq!("square".parse::<Shape>(), Ok(Shape::Square));
    }
}
