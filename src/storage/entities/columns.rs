//! Domain enums as entity columns: stored as their text (`as_str`), read back through their
//! `parse`, so a row holding a value the domain does not know is an error, never a silent
//! default.

use crate::domain::conversation::{AuthorKind, ConversationStatus, Handler};
use sea_orm::{
    ColIdx, DbErr, QueryResult, TryGetError, TryGetable, Value,
    sea_query::{ArrayType, ColumnType, Nullable, ValueType, ValueTypeErr},
};

macro_rules! text_column {
    ($($ty:ident),+ $(,)?) => {$(
        impl From<$ty> for Value {
            fn from(value: $ty) -> Self {
                Value::String(Some(value.as_str().to_owned()))
            }
        }

        impl TryGetable for $ty {
            fn try_get_by<I: ColIdx>(res: &QueryResult, index: I) -> Result<Self, TryGetError> {
                let text = String::try_get_by(res, index)?;
                $ty::parse(stringify!($ty), &text).map_err(|_| {
                    TryGetError::DbErr(DbErr::Type(format!(
                        "{} is not a known {}",
                        text,
                        stringify!($ty)
                    )))
                })
            }
        }

        impl ValueType for $ty {
            fn try_from(value: Value) -> Result<Self, ValueTypeErr> {
                match value {
                    Value::String(Some(text)) => {
                        $ty::parse(stringify!($ty), &text).map_err(|_| ValueTypeErr)
                    }
                    _ => Err(ValueTypeErr),
                }
            }

            fn type_name() -> String {
                stringify!($ty).to_owned()
            }

            fn array_type() -> ArrayType {
                ArrayType::String
            }

            fn column_type() -> ColumnType {
                ColumnType::Text
            }
        }

        impl Nullable for $ty {
            fn null() -> Value {
                Value::String(None)
            }
        }
    )+};
}

text_column!(ConversationStatus, Handler, AuthorKind);
