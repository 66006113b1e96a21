//! Query parameters: one type per endpoint serves both the OpenAPI document (its `IntoParams`)
//! and the parsing (its `Deserialize`), so that what the document lists is what is read.
//!
//! Every mistake is a 400 problem that names the parameter: one the endpoint does not take, one
//! that is not a list given twice, or a value its rule refuses (`name="value": what is wanted`).
//! Values of our domain (days, months, metrics, filters, dimensions, page sizes, cursors) are read
//! by [`FromArg`] rules through [`one`] and [`each`], so that their refusals say what is wanted.

use std::borrow::Cow;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::Deserialize;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;

use valdrix_store::{Dimension, Filter, Metric};

use super::MAX_PAGE;
use crate::ApiError;

/// The query string read as `T`. The refusal is handed over when the handler asks for the
/// parameters ([`Params::into_inner`]), after it has checked the caller's role, so a caller
/// without the role learns that first (as with [`super::JsonBody`]).
pub struct Params<T>(Result<T, ApiError>);

impl<T> Params<T> {
    /// The parameters, or the refusal of them.
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<S: Send + Sync, T: Query> FromRequestParts<S> for Params<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Params(parse(parts.uri.query().unwrap_or(""))))
    }
}

/// What a query string can be read as: a type that both describes its parameters and reads
/// them, or two such types side by side ([`And`]).
pub trait Query: Sized {
    /// The parameters, as the document lists them.
    fn described() -> Vec<Parameter>;
    /// Reads the pairs (all of them named by [`Query::described`]).
    fn read(pairs: &[(String, String)]) -> Result<Self, serde_html_form::de::Error>;
}

impl<T: DeserializeOwned + IntoParams> Query for T {
    fn described() -> Vec<Parameter> {
        T::into_params(|| Some(ParameterIn::Query))
    }

    fn read(pairs: &[(String, String)]) -> Result<Self, serde_html_form::de::Error> {
        // Re-encoded rather than handed over as pairs: serde_html_form reads a string, and this
        // is the exact inverse of the split in `parse`.
        let text = serde_urlencoded::to_string(pairs).unwrap_or_default();
        serde_html_form::from_str(&text)
    }
}

/// Two parameter types read from one query string: parameters several endpoints share (the
/// cost filters) beside an endpoint's own. Each reads the pairs it names.
#[derive(Debug)]
pub struct And<A, B>(pub A, pub B);

impl<A: IntoParams, B: IntoParams> IntoParams for And<A, B> {
    fn into_params(parameter_in: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut all = A::into_params(&parameter_in);
        all.extend(B::into_params(&parameter_in));
        all
    }
}

impl<A: Query, B: Query> Query for And<A, B> {
    fn described() -> Vec<Parameter> {
        let mut all = A::described();
        all.extend(B::described());
        all
    }

    fn read(pairs: &[(String, String)]) -> Result<Self, serde_html_form::de::Error> {
        let named = |params: Vec<Parameter>| -> Vec<(String, String)> {
            pairs.iter().filter(|(k, _)| params.iter().any(|p| p.name == *k)).cloned().collect()
        };
        Ok(And(A::read(&named(A::described()))?, B::read(&named(B::described()))?))
    }
}

/// Parameters of an endpoint that takes none.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NoParams {}

/// `query` read as `T`, or a 400 naming the parameter at fault.
pub(crate) fn parse<T: Query>(query: &str) -> Result<T, ApiError> {
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .map_err(|e| ApiError::bad_request(format!("query string: {e}")))?;
    from_pairs(&pairs)
}

/// A form's query string read as `T`: a blank field is the same as none (the defaults apply).
pub(crate) fn parse_form<T: Query>(query: &str) -> Result<T, ApiError> {
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .map_err(|e| ApiError::bad_request(format!("query string: {e}")))?;
    from_pairs(&pairs.into_iter().filter(|(_, v)| !v.trim().is_empty()).collect::<Vec<_>>())
}

/// `pairs` (a query string's, in order) read as `T`, or a 400 naming the parameter at fault.
pub(crate) fn from_pairs<T: Query>(pairs: &[(String, String)]) -> Result<T, ApiError> {
    let described = T::described();
    for (i, (k, _)) in pairs.iter().enumerate() {
        let Some(p) = described.iter().find(|p| p.name == *k) else {
            return Err(ApiError::bad_request(format!("unknown parameter {k:?}")));
        };
        if pairs[..i].iter().any(|(earlier, _)| earlier == k) && !is_list(p) {
            return Err(ApiError::bad_request(format!("{k} given twice: it takes one value")));
        }
    }
    T::read(pairs).map_err(|whole| {
        // Which pair is at fault: the first that cannot be read on its own (a missing required
        // parameter is no pair's fault: `whole` names it).
        pairs
            .iter()
            .find_map(|(k, v)| match T::read(std::slice::from_ref(&(k.clone(), v.clone()))) {
                Err(e) if !e.to_string().starts_with("missing field") => Some(refused(k, v, &e.to_string())),
                _ => None,
            })
            .unwrap_or_else(|| ApiError::bad_request(whole.to_string().replace("missing field", "missing parameter")))
    })
}

/// Whether the document describes the parameter as a list (it may then be repeated).
fn is_list(p: &Parameter) -> bool {
    let schema = serde_json::to_value(&p.schema).unwrap_or_default();
    match &schema["type"] {
        serde_json::Value::String(t) => t == "array",
        serde_json::Value::Array(ts) => ts.iter().any(|t| t == "array"),
        _ => false,
    }
}

/// A value of one parameter read by our own rule, whose refusal says what is wanted.
pub trait FromArg: Sized {
    /// The value `text` gives, or what is wanted instead.
    fn from_arg(text: &str) -> Result<Self, String>;
}

/// `v`, the value of `name` (a path segment or a body's field), read by its rule.
pub(crate) fn named<T: FromArg>(name: &str, v: &str) -> Result<T, ApiError> {
    T::from_arg(v).map_err(|e| refused(name, v, &e))
}

/// The 400 for value `v` of `name`: `name="v": what is wanted`.
pub(crate) fn refused(name: &str, v: &str, wanted: &str) -> ApiError {
    ApiError::bad_request(format!("{name}={v:?}: {wanted}"))
}

/// `#[serde(default, deserialize_with = "one")]`: an optional parameter read by its rule. An
/// empty value is a value (`to=` is refused as a day, not taken for no day), as the document's
/// patterns say; a form's blank fields are dropped first ([`parse_form`]).
pub(crate) fn one<'de, D: Deserializer<'de>, T: FromArg>(d: D) -> Result<Option<T>, D::Error> {
    T::from_arg(&Cow::<'de, str>::deserialize(d)?).map(Some).map_err(D::Error::custom)
}

/// `#[serde(default, deserialize_with = "each")]`: a repeatable parameter, each value read by
/// its rule.
pub(crate) fn each<'de, D: Deserializer<'de>, T: FromArg>(d: D) -> Result<Vec<T>, D::Error> {
    Vec::<Cow<'de, str>>::deserialize(d)?.iter().map(|t| T::from_arg(t).map_err(D::Error::custom)).collect()
}

impl FromArg for String {
    fn from_arg(text: &str) -> Result<Self, String> {
        Ok(text.to_string())
    }
}

impl FromArg for chrono::NaiveDate {
    fn from_arg(text: &str) -> Result<Self, String> {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| "expected YYYY-MM-DD".into())
    }
}

impl FromArg for Metric {
    fn from_arg(text: &str) -> Result<Self, String> {
        Metric::parse(text).ok_or_else(|| "use billed, effective, list or contracted".into())
    }
}

impl FromArg for Filter {
    fn from_arg(text: &str) -> Result<Self, String> {
        Filter::parse(text).map_err(|e| e.to_string())
    }
}

impl FromArg for Dimension {
    fn from_arg(text: &str) -> Result<Self, String> {
        Dimension::parse(text.trim()).ok_or_else(|| format!("unknown dimension {text:?}"))
    }
}

impl FromArg for bool {
    fn from_arg(text: &str) -> Result<Self, String> {
        match text {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err("true or false".into()),
        }
    }
}

/// Dimensions, comma-separated (`group_by=service,account`).
#[derive(Debug, Clone, Default)]
pub struct Dimensions(pub Vec<Dimension>);

impl FromArg for Dimensions {
    fn from_arg(text: &str) -> Result<Self, String> {
        text.split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(Dimension::from_arg)
            .collect::<Result<_, _>>()
            .map(Dimensions)
    }
}

/// The first day of a calendar month given as `YYYY-MM`.
#[derive(Debug, Clone, Copy)]
pub struct Month(pub chrono::NaiveDate);

impl FromArg for Month {
    fn from_arg(text: &str) -> Result<Self, String> {
        valdrix_core::time::parse_month(text).map(Month).ok_or_else(|| "expected YYYY-MM".into())
    }
}

/// A count from `LO` to `HI`: a page size, how many of the largest, the top N.
#[derive(Debug, Clone, Copy)]
pub struct Count<const LO: usize, const HI: usize>(pub usize);

impl<const LO: usize, const HI: usize> FromArg for Count<LO, HI> {
    fn from_arg(text: &str) -> Result<Self, String> {
        text.parse().ok().filter(|n| (LO..=HI).contains(n)).map(Count).ok_or_else(|| format!("{LO} to {HI}"))
    }
}

impl<const LO: usize, const HI: usize> Count<LO, HI> {
    /// The count asked for, or `default`.
    pub fn or(given: Option<Self>, default: usize) -> usize {
        given.map_or(default, |c| c.0)
    }
}

/// A page size: 1 to [`MAX_PAGE`].
pub type PageSize = Count<1, MAX_PAGE>;

/// What a cursor that is not a page's `next_cursor` is told.
pub(crate) const NOT_A_CURSOR: &str = "give the next_cursor of a page";

/// A cursor that is a letter and a number (`r12`: runs, `a7`: alerts), the number of the last
/// row of the page before.
#[derive(Debug, Clone, Copy)]
pub struct Numbered<const LETTER: char>(pub i64);

impl<const LETTER: char> FromArg for Numbered<LETTER> {
    fn from_arg(text: &str) -> Result<Self, String> {
        text.strip_prefix(LETTER)
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .map(Numbered)
            .ok_or_else(|| NOT_A_CURSOR.into())
    }
}

/// A positive number naming a run, a plan or a version.
#[derive(Debug, Clone, Copy)]
pub struct Positive(pub i64);

impl FromArg for Positive {
    fn from_arg(text: &str) -> Result<Self, String> {
        text.parse::<i64>().ok().filter(|n| *n > 0).map(Positive).ok_or_else(|| "a positive number".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, IntoParams)]
    #[into_params(parameter_in = Query)]
    struct Sample {
        #[serde(default, deserialize_with = "one")]
        #[param(value_type = Option<String>, format = Date)]
        from: Option<chrono::NaiveDate>,
        #[serde(default, deserialize_with = "each")]
        #[param(value_type = Option<Vec<String>>)]
        filter: Vec<Filter>,
        #[serde(default, deserialize_with = "one")]
        #[param(value_type = Option<u32>)]
        limit: Option<PageSize>,
    }

    fn refusal(query: &str) -> String {
        match parse::<Sample>(query) {
            Ok(s) => panic!("{query} was read: {s:?}"),
            Err(e) => e.detail,
        }
    }

    #[test]
    fn what_is_documented_is_read() {
        let s: Sample = parse("from=2026-10-01&filter=service=EC2&filter=account=1,2&limit=7").expect("read");
        assert_eq!(s.from, chrono::NaiveDate::from_ymd_opt(2026, 10, 1));
        assert_eq!(s.filter.len(), 2);
        assert_eq!(s.limit.map(|l| l.0), Some(7));
        let one_filter: Sample = parse("filter=service=EC2").expect("one value of a list");
        assert_eq!(one_filter.filter.len(), 1);
        let none: Sample = parse("").expect("nothing given");
        assert!(none.from.is_none() && none.filter.is_empty() && none.limit.is_none());
    }

    #[test]
    fn each_refusal_names_the_parameter() {
        assert!(refusal("colour=red").contains("unknown parameter \"colour\""));
        assert!(refusal("limit=1&limit=2").contains("limit given twice"));
        let bad_day = refusal("limit=3&from=2026-13-01");
        assert!(bad_day.contains("from=\"2026-13-01\": expected YYYY-MM-DD"), "{bad_day}");
        let bad_page = refusal("limit=0");
        assert!(bad_page.contains("limit=\"0\": 1 to 500"), "{bad_page}");
        let bad_filter = refusal("filter=service=EC2&filter=colour=red");
        assert!(bad_filter.contains("filter=\"colour=red\""), "{bad_filter}");
    }
}
