//! The error responses operations document, written once: each type below stands for a set of
//! `application/problem+json` answers in a `responses(...)` list.

use std::collections::BTreeMap;

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{Ref, RefOr};

fn problems(list: &[(u16, &str)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter()
        .map(|(status, description)| {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
            let response =
                ResponseBuilder::new().description(*description).content("application/problem+json", content);
            (status.to_string(), RefOr::T(response.build()))
        })
        .collect()
}

macro_rules! refusals {
    ($(#[$doc:meta] $name:ident: [$(($status:literal, $text:literal)),+ $(,)?];)+) => {$(
        #[$doc]
        pub struct $name;
        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                problems(&[$(($status, $text)),+])
            }
        }
    )+};
}

refusals! {
    /// What any operation with a key may answer besides its own results.
    Refusals: [
        (400, "A parameter or the body is wrong"),
        (401, "No valid key"),
        (429, "The tenant's rate limit; see Retry-After"),
        (503, "The query ran past the statement timeout"),
    ];
    /// The key's role is not enough.
    Forbidden: [(403, "The key's role may not do this")];
    /// Nothing of the caller's tenant by that name.
    NotFound: [(404, "The tenant has no such thing")];
    /// The request conflicts with the state (a closed period, the key in use).
    Conflict: [(409, "Conflicts with the current state")];
    /// The body is not of the declared type.
    NotJson: [(415, "The body is not of the expected content type")];
    /// An upload past the size limit.
    TooLarge: [(413, "The upload is larger than the server accepts")];
    /// Billing data that cannot be read: the detail names the file, row and column.
    Unreadable: [(422, "The billing data cannot be read: the detail names file, row and column")];
    /// Well-formed but unusable: rules that do not read (the detail names rule and field), a range given two ways.
    Unusable: [(422, "Well-formed but unusable: the detail says what to change")];
    /// The database does not answer.
    Unready: [(500, "The database does not answer")];
}
