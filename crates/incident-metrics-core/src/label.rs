//! Bounded label values: enums with a fixed set of values, and dense tables
//! of metric handles indexed by them.

use std::fmt;
use std::marker::PhantomData;

/// A label whose values form a small closed set, such as an HTTP method or an
/// incident severity.
///
/// Implement it with [`label_enum!`](crate::label_enum), which also
/// implements prometheus-client's `EncodeLabelValue`, `Display` and parsing.
/// Because every value has a dense index, a table of pre-registered handles
/// ([`ByLabel`]) finds the series for a value with one array index: no
/// hashing, no lock, no allocation.
pub trait LabelEnum: Copy + Eq + fmt::Debug + Send + Sync + 'static {
    /// Every value, in index order.
    const ALL: &'static [Self];

    /// The value as it appears in the exposition.
    fn as_str(self) -> &'static str;

    /// The value's position in [`ALL`](Self::ALL).
    fn index(self) -> usize;

    /// The value whose [`as_str`](Self::as_str) is `s`, if any.
    fn from_label(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == s)
    }
}

/// Declares an enum of label values and implements [`LabelEnum`],
/// prometheus-client's `EncodeLabelValue`, `Display` and `FromStr` for it.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::{label_enum, LabelEnum};
///
/// label_enum! {
///     /// The colour of a thing.
///     pub enum Colour {
///         /// Red.
///         Red => "red",
///         /// Dark blue.
///         DarkBlue => "dark_blue",
///     }
/// }
///
/// assert_eq!(Colour::DarkBlue.as_str(), "dark_blue");
/// assert_eq!(Colour::ALL, &[Colour::Red, Colour::DarkBlue]);
/// assert_eq!("red".parse::<Colour>(), Ok(Colour::Red));
/// assert!("green".parse::<Colour>().is_err());
/// ```
#[macro_export]
macro_rules! label_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $value:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $crate::LabelEnum for $name {
            const ALL: &'static [Self] = &[$(Self::$variant),+];

            #[inline]
            fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $value),+
                }
            }

            #[inline]
            fn index(self) -> usize {
                self as usize
            }
        }

        impl $name {
            /// The value as it appears in the exposition.
            #[inline]
            #[allow(dead_code)]
            $vis const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $value),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(<Self as $crate::LabelEnum>::as_str(*self))
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::UnknownLabelValue;

            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                <Self as $crate::LabelEnum>::from_label(s).ok_or_else(|| {
                    $crate::UnknownLabelValue::new(
                        stringify!($name),
                        s,
                        <Self as $crate::LabelEnum>::ALL
                            .iter()
                            .map(|v| <Self as $crate::LabelEnum>::as_str(*v))
                            .collect(),
                    )
                })
            }
        }

        impl $crate::prometheus_client::encoding::EncodeLabelValue for $name {
            fn encode(
                &self,
                encoder: &mut $crate::prometheus_client::encoding::LabelValueEncoder<'_>,
            ) -> ::std::result::Result<(), ::std::fmt::Error> {
                ::std::fmt::Write::write_str(encoder, <Self as $crate::LabelEnum>::as_str(*self))
            }
        }
    };
}

/// The error of parsing a string that is none of a [`LabelEnum`]'s values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownLabelValue {
    label: &'static str,
    value: String,
    expected: Vec<&'static str>,
}

impl UnknownLabelValue {
    /// An error for `value`, which is none of the `expected` values of `label`.
    pub fn new(label: &'static str, value: &str, expected: Vec<&'static str>) -> Self {
        Self {
            label,
            value: value.to_owned(),
            expected,
        }
    }

    /// The rejected value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for UnknownLabelValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} {:?}: expected one of {}",
            self.label,
            self.value,
            self.expected.join(", ")
        )
    }
}

impl std::error::Error for UnknownLabelValue {}

/// One metric handle per value of a [`LabelEnum`], found by array index.
///
/// # Examples
///
/// ```
/// use incident_metrics_core::{label_enum, ByLabel};
/// use prometheus_client::metrics::counter::Counter;
///
/// label_enum! {
///     /// Traffic light.
///     pub enum Light { /// Stop.
///     Red => "red", /// Go.
///     Green => "green" }
/// }
///
/// let counters: ByLabel<Light, Counter> = ByLabel::new(|_| Counter::default());
/// counters.get(Light::Green).inc();
/// assert_eq!(counters.get(Light::Green).get(), 1);
/// assert_eq!(counters.get(Light::Red).get(), 0);
/// ```
pub struct ByLabel<E, M> {
    items: Box<[M]>,
    _label: PhantomData<fn(E) -> E>,
}

impl<E: LabelEnum, M> ByLabel<E, M> {
    /// Builds one handle per value with `make`, in index order.
    pub fn new(mut make: impl FnMut(E) -> M) -> Self {
        Self {
            items: E::ALL.iter().map(|e| make(*e)).collect(),
            _label: PhantomData,
        }
    }

    /// Like [`new`](Self::new), stopping at the first error.
    ///
    /// # Errors
    ///
    /// The first error `make` returns.
    pub fn try_new<Err>(mut make: impl FnMut(E) -> Result<M, Err>) -> Result<Self, Err> {
        Ok(Self {
            items: E::ALL.iter().map(|e| make(*e)).collect::<Result<_, _>>()?,
            _label: PhantomData,
        })
    }

    /// The handle for `label`.
    #[inline]
    pub fn get(&self, label: E) -> &M {
        // `index` is below `E::ALL.len()`, the length of `items`, by construction.
        &self.items[label.index()]
    }

    /// Every value with its handle, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (E, &M)> {
        E::ALL.iter().copied().zip(self.items.iter())
    }
}

impl<E, M: Clone> Clone for ByLabel<E, M> {
    fn clone(&self) -> Self {
        Self {
            items: self.items.clone(),
            _label: PhantomData,
        }
    }
}

impl<E: LabelEnum, M: fmt::Debug> fmt::Debug for ByLabel<E, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(e, m)| (e.as_str(), m)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    label_enum! {
        /// Test enum.
        pub(crate) enum Sev {
            /// A.
            Critical => "critical",
            /// B.
            Info => "info",
        }
    }

    #[test]
    fn indexes_are_dense_and_values_round_trip() {
        for (i, v) in Sev::ALL.iter().enumerate() {
            assert_eq!(v.index(), i);
            assert_eq!(Sev::from_label(LabelEnum::as_str(*v)), Some(*v));
            assert_eq!(v.to_string(), LabelEnum::as_str(*v));
        }
        let err = "warning".parse::<Sev>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown Sev \"warning\": expected one of critical, info"
        );
    }

    #[test]
    fn by_label_finds_each_handle() {
        let t: ByLabel<Sev, usize> = ByLabel::new(|s: Sev| s.index() * 10);
        assert_eq!(*t.get(Sev::Info), 10);
        assert_eq!(t.iter().count(), 2);
        let e: Result<ByLabel<Sev, u8>, &str> = ByLabel::try_new(|_| Err("no"));
        assert!(e.is_err());
    }
}
