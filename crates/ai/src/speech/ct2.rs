//! A bounded reader of CTranslate2 `model.bin` files.
//!
//! No maintained Rust crate reads this format without building the C++ CTranslate2 library
//! (`ct2rs` binds it), so this is our own small reader. The layout, all integers
//! little-endian (`python/ctranslate2/specs/model_spec.py` `ModelSpec.save` writes it,
//! `src/models/model.cc` `Model::load` reads it):
//!
//! ```text
//! u32 binary_version                    (>= 2: spec name and revision follow)
//! str spec_name, u32 spec_revision      (e.g. "WhisperSpec", 3)
//! u32 num_variables
//! num_variables × {
//!     str name, u8 rank, u32 × rank dims,
//!     u8 dtype_id, u32 num_bytes        (binary_version >= 4; before: u8 item size, u32 count)
//!     num_bytes of row-major data
//! }
//! u32 num_aliases                       (binary_version >= 3)
//! num_aliases × { str alias, str variable_name }
//! ```
//!
//! `str` is a `u16` length that counts a trailing NUL, then the bytes. Data type ids follow
//! `include/ctranslate2/types.h` `DataType`: 0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16.
//!
//! Every length is checked against the bytes that remain, so a truncated or corrupt file is an
//! error, never a panic or an oversized allocation.

use std::collections::HashMap;
use std::ops::Range;

use candle_core::{DType, Device, Tensor};

/// The newest binary version CTranslate2 writes (`CURRENT_BINARY_VERSION` in model_spec.py).
const MAX_BINARY_VERSION: u32 = 6;
/// The oldest we read: version 4 introduced explicit data type ids.
const MIN_BINARY_VERSION: u32 = 4;
/// Bounds on the header counts (a Whisper large-v3 file has ~1,300 variables).
const MAX_VARIABLES: u32 = 100_000;
const MAX_RANK: u8 = 8;

/// A CTranslate2 data type (`DataType` in `include/ctranslate2/types.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ct2DType {
    F32,
    I8,
    I16,
    I32,
    F16,
    Bf16,
}

impl Ct2DType {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::Bf16,
            _ => return None,
        })
    }

    fn item_size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::Bf16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
}

/// One variable: its shape, type and where its bytes are in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Variable {
    pub shape: Vec<usize>,
    pub dtype: Ct2DType,
    bytes: Range<usize>,
}

/// A parsed `model.bin`: the file's bytes and an index of its variables (aliases resolved).
#[derive(Debug)]
pub(crate) struct Ct2Model {
    pub spec: String,
    pub revision: u32,
    bytes: Vec<u8>,
    variables: HashMap<String, Variable>,
}

/// Why a file is not a readable CTranslate2 model.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FormatError(pub String);

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], FormatError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| FormatError(format!("truncated at byte {} reading {what}", self.pos)))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, FormatError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, FormatError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, FormatError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self, what: &str) -> Result<String, FormatError> {
        let len = usize::from(self.u16(what)?);
        if len == 0 {
            return Err(FormatError(format!("empty string for {what}")));
        }
        let b = self.take(len, what)?;
        let s = std::str::from_utf8(&b[..len - 1])
            .map_err(|_| FormatError(format!("{what} is not UTF-8")))?;
        Ok(s.to_owned())
    }
}

impl Ct2Model {
    /// Parses a whole `model.bin`.
    pub fn parse(bytes: Vec<u8>) -> Result<Self, FormatError> {
        let mut c = Cursor {
            bytes: &bytes,
            pos: 0,
        };
        let version = c.u32("binary version")?;
        if !(MIN_BINARY_VERSION..=MAX_BINARY_VERSION).contains(&version) {
            return Err(FormatError(format!(
                "binary version {version} (this reader takes {MIN_BINARY_VERSION}..={MAX_BINARY_VERSION})"
            )));
        }
        let spec = c.string("spec name")?;
        let revision = c.u32("spec revision")?;
        let count = c.u32("variable count")?;
        if count > MAX_VARIABLES {
            return Err(FormatError(format!("{count} variables")));
        }
        let mut variables = HashMap::new();
        for _ in 0..count {
            let name = c.string("variable name")?;
            let rank = c.u8("rank")?;
            if rank > MAX_RANK {
                return Err(FormatError(format!("{name}: rank {rank}")));
            }
            let mut shape = Vec::with_capacity(usize::from(rank));
            for _ in 0..rank {
                shape.push(c.u32("dimension")? as usize);
            }
            let dtype_id = c.u8("data type")?;
            let dtype = Ct2DType::from_id(dtype_id)
                .ok_or_else(|| FormatError(format!("{name}: data type id {dtype_id}")))?;
            let num_bytes = c.u32("byte count")? as usize;
            let expected = shape
                .iter()
                .try_fold(dtype.item_size(), |acc, &d| acc.checked_mul(d));
            if expected != Some(num_bytes) {
                return Err(FormatError(format!(
                    "{name}: {num_bytes} bytes for shape {shape:?} of {dtype:?}"
                )));
            }
            let start = c.pos;
            c.take(num_bytes, &name)?;
            variables.insert(
                name,
                Variable {
                    shape,
                    dtype,
                    bytes: start..start + num_bytes,
                },
            );
        }
        let aliases = c.u32("alias count")?;
        if aliases > MAX_VARIABLES {
            return Err(FormatError(format!("{aliases} aliases")));
        }
        for _ in 0..aliases {
            let alias = c.string("alias")?;
            let target = c.string("alias target")?;
            let var = variables
                .get(&target)
                .cloned()
                .ok_or_else(|| FormatError(format!("alias {alias} of unknown {target}")))?;
            variables.insert(alias, var);
        }
        if c.pos != bytes.len() {
            return Err(FormatError(format!(
                "{} trailing bytes",
                bytes.len() - c.pos
            )));
        }
        Ok(Self {
            spec,
            revision,
            bytes,
            variables,
        })
    }

    /// The variable named `name`, if any.
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.get(name)
    }

    /// The names of all variables (aliases included).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.variables.keys().map(String::as_str)
    }

    /// A scalar integer variable (CTranslate2 stores `num_heads` and flags as rank-0 ints).
    pub fn scalar_int(&self, name: &str) -> Result<i64, FormatError> {
        let var = self
            .variable(name)
            .ok_or_else(|| FormatError(format!("no variable {name}")))?;
        let b = &self.bytes[var.bytes.clone()];
        match (var.shape.as_slice(), var.dtype) {
            ([], Ct2DType::I8) => Ok(i64::from(b[0] as i8)),
            ([], Ct2DType::I16) => Ok(i64::from(i16::from_le_bytes([b[0], b[1]]))),
            ([], Ct2DType::I32) => Ok(i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
            _ => Err(FormatError(format!(
                "{name} is not an integer scalar ({:?} {:?})",
                var.dtype, var.shape
            ))),
        }
    }

    /// A floating-point variable as an f32 tensor on `device` (f16 and bf16 are widened).
    pub fn tensor(&self, name: &str, device: &Device) -> Result<Tensor, FormatError> {
        let var = self
            .variable(name)
            .ok_or_else(|| FormatError(format!("no variable {name}")))?;
        let dtype = match var.dtype {
            Ct2DType::F32 => DType::F32,
            Ct2DType::F16 => DType::F16,
            Ct2DType::Bf16 => DType::BF16,
            other => {
                return Err(FormatError(format!(
                    "{name} is {other:?}; quantized models are not supported"
                )));
            }
        };
        Tensor::from_raw_buffer(&self.bytes[var.bytes.clone()], dtype, &var.shape, device)
            .and_then(|t| t.to_dtype(DType::F32))
            .map_err(|e| FormatError(format!("{name}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u16 + 1).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }

    /// A two-variable file as model_spec.py writes it: an f16 matrix, an i16 scalar, an alias.
    fn sample() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&6u32.to_le_bytes());
        string(&mut b, "WhisperSpec");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&2u32.to_le_bytes());
        string(&mut b, "decoder/embeddings/weight");
        b.push(2);
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&3u32.to_le_bytes());
        b.push(4);
        b.extend_from_slice(&12u32.to_le_bytes());
        // f16: 0.0, 1.0, -2.0, 0.5, 65504, -0.0
        for h in [0x0000u16, 0x3c00, 0xc000, 0x3800, 0x7bff, 0x8000] {
            b.extend_from_slice(&h.to_le_bytes());
        }
        string(&mut b, "decoder/num_heads");
        b.push(0);
        b.push(2);
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&6i16.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        string(&mut b, "decoder/projection/weight");
        string(&mut b, "decoder/embeddings/weight");
        b
    }

    #[test]
    fn reads_variables_scalars_and_aliases() {
        let m = Ct2Model::parse(sample()).expect("parse");
        assert_eq!((m.spec.as_str(), m.revision), ("WhisperSpec", 3));
        assert_eq!(m.scalar_int("decoder/num_heads"), Ok(6));
        let t = m
            .tensor("decoder/projection/weight", &Device::Cpu)
            .expect("alias resolves");
        assert_eq!(t.dims(), &[2, 3]);
        assert_eq!(
            t.to_vec2::<f32>().expect("f32"),
            vec![vec![0.0, 1.0, -2.0], vec![0.5, 65504.0, -0.0]]
        );
        assert!(m.tensor("decoder/num_heads", &Device::Cpu).is_err());
        assert!(m.tensor("missing", &Device::Cpu).is_err());
    }

    #[test]
    fn every_truncation_and_trailing_garbage_is_an_error() {
        let full = sample();
        for len in 0..full.len() {
            assert!(
                Ct2Model::parse(full[..len].to_vec()).is_err(),
                "accepted a file cut at {len}"
            );
        }
        let mut longer = full;
        longer.push(0);
        assert!(Ct2Model::parse(longer).is_err());
    }

    #[test]
    fn rejects_inconsistent_headers() {
        // byte count that does not match the shape
        let mut b = sample();
        let at = 4 + 2 + 12 + 4 + 4 + 2 + 26 + 1 + 8 + 1;
        b[at..at + 4].copy_from_slice(&13u32.to_le_bytes());
        assert!(Ct2Model::parse(b).is_err());
        // unknown data type id
        let mut b = sample();
        b[at - 1] = 9;
        assert!(Ct2Model::parse(b).is_err());
        // dimensions whose product overflows
        let mut b = sample();
        b[at - 9..at - 1].copy_from_slice(&[0xff; 8]);
        assert!(Ct2Model::parse(b).is_err());
        // a binary version from the future
        let mut b = sample();
        b[0] = 7;
        assert!(Ct2Model::parse(b).is_err());
    }
}
