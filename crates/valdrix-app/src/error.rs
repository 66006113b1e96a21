//! Why a use case failed, sorted by whose doing it is, so that every caller answers alike: the
//! command line with a message and exit status 1, the server with a 4xx or a 5xx problem.

use valdrix_ingest::IngestError;
use valdrix_store::StoreError;

/// An error of a use case.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The caller asked for something that cannot be done as asked: an argument out of range, a
    /// file that is not what it should be. The message says which and why.
    #[error("{0}")]
    Invalid(String),
    /// A billing file could not be read as a bill: the message names the file, row and column.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with what is stored (a plan already approved, an author approving
    /// their own plan).
    #[error("{0}")]
    Conflict(String),
    /// An object store or a cloud's API could not be reached or refused the call.
    #[error("{0}")]
    Remote(String),
    /// A local file of ours (an export, a temporary folder) could not be written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Something failed that is not the caller's doing.
    #[error("{0}")]
    Internal(String),
    /// An error with what was being done when it happened, as `context: error`.
    #[error("{context}: {error}")]
    Context {
        /// What was being done.
        context: String,
        /// What went wrong.
        error: Box<AppError>,
    },
}

/// Whose doing an error is: what an HTTP answer's status says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The caller's input is wrong (422 or 400).
    Caller,
    /// The request conflicts with the stored state (409).
    Conflict,
    /// Something named does not exist (404).
    NotFound,
    /// Ours (500).
    Server,
}

impl AppError {
    /// Whose doing the error is.
    pub fn fault(&self) -> Fault {
        match self {
            AppError::Invalid(_) | AppError::Ingest(_) | AppError::Remote(_) => Fault::Caller,
            AppError::NotFound(_) => Fault::NotFound,
            AppError::Conflict(_) => Fault::Conflict,
            AppError::Store(s) => match s {
                StoreError::PeriodClosed { .. } | StoreError::ScopeHeld(_) | StoreError::Conflict(_) => Fault::Conflict,
                StoreError::NotFound(_) => Fault::NotFound,
                StoreError::InvalidQuery(_) => Fault::Caller,
                _ => Fault::Server,
            },
            AppError::Io(_) | AppError::Internal(_) => Fault::Server,
            AppError::Context { error, .. } => error.fault(),
        }
    }

    /// The store error underneath, taken out of its context; the error itself when it is not one.
    pub fn into_store_error(self) -> std::result::Result<StoreError, AppError> {
        match self {
            AppError::Store(s) => Ok(s),
            AppError::Context { context, error } => {
                error.into_store_error().map_err(|error| AppError::Context { context, error: Box::new(error) })
            }
            other => Err(other),
        }
    }

    /// This error, with what was being done when it happened.
    pub fn context(self, context: impl Into<String>) -> Self {
        AppError::Context { context: context.into(), error: Box::new(self) }
    }
}

macro_rules! invalid_from {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for AppError {
            fn from(e: $t) -> Self {
                AppError::Invalid(e.to_string())
            }
        }
    )*};
}

// The analytics and zombie crates' errors are all about what they were given: rules, policies,
// series and parameters.
invalid_from!(
    valdrix_analytics::allocation::RulesFileError,
    valdrix_analytics::allocation::RuleError,
    valdrix_analytics::allocation::SplitError,
    valdrix_analytics::anomaly::ThresholdError,
    valdrix_analytics::anomaly::DetectError,
    valdrix_analytics::forecast::ForecastError,
    valdrix_analytics::monitor::MonitorError,
    valdrix_zombies::policy::PolicyError,
    valdrix_zombies::inventory::InventoryError,
    valdrix_core::error::CoreError,
    valdrix_core::decimal::DecimalError,
);

impl From<valdrix_zombies::provider::ProviderError> for AppError {
    fn from(e: valdrix_zombies::provider::ProviderError) -> Self {
        AppError::Remote(e.to_string())
    }
}

impl From<valdrix_analytics::spend::SpendError> for AppError {
    fn from(e: valdrix_analytics::spend::SpendError) -> Self {
        use valdrix_analytics::spend::SpendError as E;
        match e {
            E::Store(s) => AppError::Store(s),
            E::NoSpend => AppError::NotFound(e.to_string()),
            other => AppError::Invalid(other.to_string()),
        }
    }
}

/// Adds what was being done to an error, as anyhow's `with_context` does: `context: error`.
pub trait Context<T> {
    /// The error, if any, with the context `f` makes.
    fn with_context<C: Into<String>>(self, f: impl FnOnce() -> C) -> Result<T, AppError>;
    /// The error, if any, with a fixed context.
    fn context(self, context: &str) -> Result<T, AppError>;
}

impl<T, E: Into<AppError>> Context<T> for Result<T, E> {
    fn with_context<C: Into<String>>(self, f: impl FnOnce() -> C) -> Result<T, AppError> {
        self.map_err(|e| e.into().context(f()))
    }
    fn context(self, context: &str) -> Result<T, AppError> {
        self.map_err(|e| e.into().context(context))
    }
}

/// Result alias of the application layer.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_reads_as_anyhow_printed_it_and_keeps_the_fault() {
        let e: Result<()> = Err(StoreError::NotFound("no run 7".into())).with_context(|| "reading run 7");
        let e = e.unwrap_err();
        assert_eq!(e.to_string(), "reading run 7: no run 7");
        assert_eq!(e.fault(), Fault::NotFound);
        assert!(matches!(e.into_store_error(), Ok(StoreError::NotFound(_))));
        assert_eq!(AppError::Invalid("bad".into()).context("a").context("b").to_string(), "b: a: bad");
        assert_eq!(AppError::Io(std::io::Error::other("disk")).fault(), Fault::Server);
    }
}
