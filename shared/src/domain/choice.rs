/// A closed set of values accepted for a field. Implemented by the `choice_enum!` macro; an
/// unknown value is a 422 that lists the allowed ones.
pub trait Choice: Sized + Copy + 'static {
    /// Every accepted wire value, in documentation order.
    const ALL: &'static [&'static str];
    fn parse(value: &str) -> Option<Self>;
    fn as_str(&self) -> &'static str;
}

/// Defines a `Choice` enum whose wire values are the given strings, with serde support.
#[macro_export]
macro_rules! choice_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name { $($variant),+ }

        impl $crate::domain::Choice for $name {
            const ALL: &'static [&'static str] = &[$($wire),+];
            fn parse(value: &str) -> Option<Self> {
                match value { $($wire => Some(Self::$variant),)+ _ => None }
            }
            fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $wire),+ }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($crate::domain::Choice::as_str(self))
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                <Self as $crate::domain::Choice>::parse(&raw)
                    .ok_or_else(|| ::serde::de::Error::unknown_variant(&raw, <Self as $crate::domain::Choice>::ALL))
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($crate::domain::Choice::as_str(self))
            }
        }
    };
}
