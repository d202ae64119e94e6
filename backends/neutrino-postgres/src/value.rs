//! [`Value`]s as PostgreSQL parameters and columns.

use std::error::Error as StdError;

use bytes::BytesMut;
use neutrino_core::sql::Value;
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};

type BoxError = Box<dyn StdError + Sync + Send>;

/// The type a parameter is declared with: its variant's PostgreSQL type, or
/// none for `NULL` (the server infers it from the statement).
pub(crate) fn param_type(v: &Value) -> Type {
    match v {
        Value::Null => unspecified(),
        Value::Integer(_) => Type::INT8,
        Value::Real(_) => Type::FLOAT8,
        Value::Text(_) => Type::TEXT,
        Value::Blob(_) => Type::BYTEA,
    }
}

/// Type OID 0: "let the server infer it".
pub(crate) fn unspecified() -> Type {
    Type::new("unspecified".into(), 0, Kind::Pseudo, "pg_catalog".into())
}

/// A bound value, encoded for the type the server settled on.
#[derive(Debug)]
pub(crate) struct Param<'a>(pub(crate) &'a Value);

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let wrong = || -> BoxError {
            format!(
                "a {} value cannot be bound where the statement expects {}",
                self.0.type_name(),
                ty.name()
            )
            .into()
        };
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i).map_err(|_| wrong())?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i).map_err(|_| wrong())?.to_sql(ty, out),
                _ => Err(wrong()),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                _ => Err(wrong()),
            },
            Value::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    s.as_str().to_sql(ty, out)
                }
                _ => Err(wrong()),
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => b.as_slice().to_sql(ty, out),
                _ => Err(wrong()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A column read back as a [`Value`].
pub(crate) struct Cell(pub(crate) Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let v = match *ty {
            Type::BOOL => Value::Integer(i64::from(bool::from_sql(ty, raw)?)),
            Type::INT2 => Value::Integer(i64::from(i16::from_sql(ty, raw)?)),
            Type::INT4 => Value::Integer(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT8 => Value::Integer(i64::from_sql(ty, raw)?),
            Type::OID => Value::Integer(i64::from(u32::from_sql(ty, raw)?)),
            Type::FLOAT4 => Value::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::NUMERIC => numeric(raw)?,
            Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::UNKNOWN
            | Type::JSON
            | Type::XML => Value::Text(std::str::from_utf8(raw)?.to_owned()),
            Type::JSONB => match raw.split_first() {
                Some((1, rest)) => Value::Text(std::str::from_utf8(rest)?.to_owned()),
                _ => return Err("unsupported jsonb format".into()),
            },
            Type::BYTEA => Value::Blob(raw.to_vec()),
            Type::UUID => {
                let b: [u8; 16] = raw.try_into().map_err(|_| "a uuid is 16 bytes")?;
                let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
                Value::Text(format!(
                    "{}-{}-{}-{}-{}",
                    &h[..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..]
                ))
            }
            _ => {
                return Err(format!(
                    "a column of type {} has no Value; cast it to BIGINT, DOUBLE PRECISION, TEXT or BYTEA",
                    ty.name()
                )
                .into());
            }
        };
        Ok(Cell(v))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A `NUMERIC` in binary form: an integer when it has no fraction and fits,
/// else the nearest real.
fn numeric(raw: &[u8]) -> Result<Value, BoxError> {
    let word = |i: usize| -> Result<u16, BoxError> {
        raw.get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "truncated numeric".into())
    };
    let ndigits = usize::from(word(0)?);
    let weight = i32::from(word(2)? as i16);
    let sign = word(4)?;
    let dscale = word(6)?;
    match sign {
        0xC000 => return Ok(Value::Real(f64::NAN)),
        0xD000 => return Ok(Value::Real(f64::INFINITY)),
        0xF000 => return Ok(Value::Real(f64::NEG_INFINITY)),
        0x0000 | 0x4000 => {}
        _ => return Err("bad numeric sign".into()),
    }
    let digits: Vec<u16> = (0..ndigits)
        .map(|k| word(8 + 2 * k))
        .collect::<Result<_, _>>()?;
    let negative = sign == 0x4000;
    if dscale == 0 {
        // An integer: digits are base 10000, the first at 10000^weight.
        let mut acc: i128 = 0;
        let mut fits = true;
        for p in 0..=weight.max(-1) {
            let d = usize::try_from(p).ok().and_then(|k| digits.get(k)).copied();
            match acc
                .checked_mul(10_000)
                .and_then(|a| a.checked_add(i128::from(d.unwrap_or(0))))
            {
                Some(a) => acc = a,
                None => {
                    fits = false;
                    break;
                }
            }
        }
        if fits {
            let signed = if negative { -acc } else { acc };
            if let Ok(i) = i64::try_from(signed) {
                return Ok(Value::Integer(i));
            }
        }
    }
    let mut f = 0.0_f64;
    for (k, d) in digits.iter().enumerate() {
        f += f64::from(*d) * 10_000_f64.powi(weight - k as i32);
    }
    Ok(Value::Real(if negative { -f } else { f }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerics_decode_to_integers_or_reals() {
        // 12345678: weight 1, digits [1234, 5678], scale 0.
        let raw = [0, 2, 0, 1, 0, 0, 0, 0, 4, 210, 22, 46];
        assert_eq!(numeric(&raw).unwrap(), Value::Integer(12_345_678));
        // -1.5: weight 0, digits [1, 5000], scale 1.
        let raw = [0, 2, 0, 0, 0x40, 0, 0, 1, 0, 1, 0x13, 0x88];
        assert_eq!(numeric(&raw).unwrap(), Value::Real(-1.5));
        // 0
        assert_eq!(
            numeric(&[0, 0, 0, 0, 0, 0, 0, 0]).unwrap(),
            Value::Integer(0)
        );
        // 20000: weight 1, digits [2], scale 0.
        assert_eq!(
            numeric(&[0, 1, 0, 1, 0, 0, 0, 0, 0, 2]).unwrap(),
            Value::Integer(20_000)
        );
        assert!(numeric(&[0, 5]).is_err());
    }
}
