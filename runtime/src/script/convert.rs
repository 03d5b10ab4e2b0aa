//! Values between the codec and rhai: what a script receives as arguments
//! and messages, and what its return value becomes.
//!
//! | codec [`Value`] | rhai |
//! |---|---|
//! | null | `()` |
//! | bool | `bool` |
//! | integer | `i64` (one out of its range: a float) |
//! | float | `f64` |
//! | text | string |
//! | bytes | blob |
//! | array | array |
//! | map | object map (a key that is not text becomes its text form) |
//! | tag | its value |
//!
//! Back, a `char` becomes one-character text; function pointers, timestamps
//! and custom types have no codec form and are an error.

use rhai::{Array, Blob, Dynamic, Map};

use crate::codec::Value;

/// A codec value as a script sees it.
pub fn to_dynamic(value: Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => b.into(),
        Value::Integer(i) => match i64::try_from(i128::from(i)) {
            Ok(i) => i.into(),
            Err(_) => (i128::from(i) as f64).into(),
        },
        Value::Float(f) => f.into(),
        Value::Text(t) => t.into(),
        Value::Bytes(b) => Dynamic::from_blob(b),
        Value::Array(items) => {
            let array: Array = items.into_iter().map(to_dynamic).collect();
            array.into()
        }
        Value::Map(fields) => {
            let map: Map = fields
                .into_iter()
                .map(|(k, v)| (key_text(k).into(), to_dynamic(v)))
                .collect();
            map.into()
        }
        Value::Tag(_, inner) => to_dynamic(*inner),
        // `ciborium::Value` is non-exhaustive; nothing else exists today.
        _ => Dynamic::UNIT,
    }
}

/// A script's value as a codec value; an error names a type with no codec form.
pub fn to_value(value: Dynamic) -> Result<Value, String> {
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Some(b) = value.clone().try_cast::<bool>() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::Integer(i.into()));
    }
    if let Ok(f) = value.as_float() {
        return Ok(Value::Float(f));
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::Text(c.to_string()));
    }
    if value.is_string() {
        return Ok(Value::Text(value.into_string()?));
    }
    if value.is_blob() {
        return Ok(Value::Bytes(value.cast::<Blob>()));
    }
    if value.is_array() {
        let items = value.cast::<Array>().into_iter().map(to_value);
        return Ok(Value::Array(items.collect::<Result<_, _>>()?));
    }
    if value.is_map() {
        let fields = value.cast::<Map>().into_iter().map(|(k, v)| {
            let v = to_value(v)?;
            Ok((Value::Text(k.to_string()), v))
        });
        return Ok(Value::Map(fields.collect::<Result<_, String>>()?));
    }
    Err(format!(
        "a script value of type {} has no message form",
        value.type_name()
    ))
}

/// A map key as text: text stays, anything else is written out.
fn key_text(key: Value) -> String {
    match key {
        Value::Text(t) => t,
        Value::Integer(i) => i128::from(i).to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Null => "null".into(),
        Value::Bytes(b) => crate::codec::hex::encode(&b),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(i: i64) -> Value {
        Value::Integer(i.into())
    }

    #[test]
    fn values_round_trip() {
        let value = Value::Map(vec![
            (Value::Text("n".into()), int(-3)),
            (Value::Text("f".into()), Value::Float(1.5)),
            (Value::Text("t".into()), Value::Text("À".into())),
            (Value::Text("b".into()), Value::Bytes(vec![0, 255])),
            (
                Value::Text("a".into()),
                Value::Array(vec![Value::Null, Value::Bool(true)]),
            ),
        ]);
        let back = to_value(to_dynamic(value.clone())).unwrap();
        // rhai maps are ordered by key.
        let mut expected = value.as_map().unwrap().clone();
        expected.sort_by(|a, b| a.0.as_text().cmp(&b.0.as_text()));
        assert_eq!(back, Value::Map(expected));
    }

    #[test]
    fn odd_keys_and_big_integers_have_a_script_form() {
        let map = Value::Map(vec![(int(1), int(2)), (Value::Bytes(vec![0xab]), int(3))]);
        let d = to_dynamic(map).cast::<Map>();
        assert_eq!(d["1"].as_int(), Ok(2));
        assert_eq!(d["ab"].as_int(), Ok(3));
        let big = to_dynamic(Value::Integer(u64::MAX.into()));
        assert!(big.as_float().is_ok());
        let tagged = Value::Tag(1, Box::new(int(5)));
        assert_eq!(to_dynamic(tagged).as_int(), Ok(5));
    }

    #[test]
    fn script_only_types_are_an_error() {
        let char_text = to_value(Dynamic::from('x')).unwrap();
        assert_eq!(char_text, Value::Text("x".into()));
        let f = rhai::FnPtr::new("f").unwrap();
        let e = to_value(Dynamic::from(f)).unwrap_err();
        assert!(e.contains("no message form"), "{e}");
    }
}
