//! Fixed-size byte newtypes with a serde form that suits both wire and API:
//! raw bytes in binary formats (CBOR), `0x`-prefixed hex in human-readable ones (JSON).

use core::fmt;

/// Serde helpers shared by every fixed-size byte type of this crate.
pub(crate) mod serde_fixed {
    use core::fmt;
    use serde::{Deserializer, Serializer, de};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&format!("0x{}", hex::encode(bytes)))
        } else {
            s.serialize_bytes(bytes)
        }
    }

    struct FixedVisitor<const N: usize>;

    impl<'de, const N: usize> de::Visitor<'de> for FixedVisitor<N> {
        type Value = Box<[u8; N]>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{N} bytes (raw, or 0x-prefixed hex)")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let digits = v
                .strip_prefix("0x")
                .ok_or_else(|| E::custom("hex string must start with 0x"))?;
            if digits.len() != 2 * N {
                return Err(E::invalid_length(digits.len() / 2, &self));
            }
            let mut out = Box::new([0u8; N]);
            hex::decode_to_slice(digits, &mut out[..]).map_err(E::custom)?;
            Ok(out)
        }

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
            let arr: [u8; N] = v
                .try_into()
                .map_err(|_| E::invalid_length(v.len(), &self))?;
            Ok(Box::new(arr))
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Box::new([0u8; N]);
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(i, &self))?;
            }
            if seq.next_element::<u8>()?.is_some() {
                return Err(de::Error::invalid_length(N + 1, &self));
            }
            Ok(out)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<Box<[u8; N]>, D::Error> {
        if d.is_human_readable() {
            d.deserialize_str(FixedVisitor::<N>)
        } else {
            d.deserialize_bytes(FixedVisitor::<N>)
        }
    }
}

/// Declares a `[u8; N]` newtype with hex `Debug`/`Display`, `AsRef<[u8]>`, `TryFrom<&[u8]>`
/// and the dual serde form.
macro_rules! fixed_bytes {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(v: [u8; $len]) -> Self {
                Self(v)
            }
        }

        impl TryFrom<&[u8]> for $name {
            type Error = $crate::bytes::LengthError;
            fn try_from(v: &[u8]) -> Result<Self, Self::Error> {
                v.try_into()
                    .map(Self)
                    .map_err(|_| $crate::bytes::LengthError { expected: $len, got: v.len() })
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}(0x{})", stringify!($name), hex::encode(self.0))
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "0x{}", hex::encode(self.0))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                $crate::bytes::serde_fixed::serialize(&self.0, s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::bytes::serde_fixed::deserialize::<D, $len>(d).map(|b| Self(*b))
            }
        }
    };
}
pub(crate) use fixed_bytes;

/// A byte string had the wrong length for a fixed-size type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} bytes, got {got}")]
pub struct LengthError {
    /// Required length.
    pub expected: usize,
    /// Length received.
    pub got: usize,
}

/// Formats bytes as `0x`-prefixed lowercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

pub(crate) struct HexShort<'a>(pub(crate) &'a [u8]);

impl fmt::Debug for HexShort<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() <= 8 {
            write!(f, "0x{}", hex::encode(self.0))
        } else {
            write!(
                f,
                "0x{}…({} bytes)",
                hex::encode(&self.0[..8]),
                self.0.len()
            )
        }
    }
}
