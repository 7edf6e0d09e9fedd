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
///
/// `enum Status as "AppointmentStatus" { ... }` names its OpenAPI schema where the Rust name is
/// not unique across the API (the schema is only compiled with hub-shared's `openapi` feature).
macro_rules! choice_enum {
    (@define [$schema:expr] $(#[$meta:meta])* $vis:vis enum $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $crate::__choice_schema!($name, $schema);

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
    ($(#[$meta:meta])* $vis:vis enum $name:ident as $schema:literal { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $crate::choice_enum! { @define [$schema] $(#[$meta])* $vis enum $name { $($variant = $wire),+ } }
    };
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $crate::choice_enum! { @define [stringify!($name)] $(#[$meta])* $vis enum $name { $($variant = $wire),+ } }
    };
}

/// The OpenAPI schema of a choice enum. Chosen by hub-shared's own `openapi` feature (a `cfg`
/// inside `choice_enum!` would be read in each calling crate instead).
#[cfg(feature = "openapi")]
#[doc(hidden)]
#[macro_export]
macro_rules! __choice_schema {
    ($name:ident, $schema:expr) => {
        impl $crate::openapi::utoipa::PartialSchema for $name {
            fn schema() -> $crate::openapi::utoipa::openapi::RefOr<$crate::openapi::utoipa::openapi::schema::Schema> {
                $crate::openapi::choice::<Self>().into()
            }
        }
        impl $crate::openapi::utoipa::ToSchema for $name {
            fn name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed($schema)
            }
        }
    };
}

#[cfg(not(feature = "openapi"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __choice_schema {
    ($name:ident, $schema:expr) => {};
}
