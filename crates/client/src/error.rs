//! Client errors.

/// What went wrong talking to an S3 endpoint.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint URL is unusable.
    #[error("endpoint {endpoint:?} is not a usable URL: {detail}. Give it as http://HOST:PORT or https://HOST:PORT")]
    BadEndpoint {
        /// What was given.
        endpoint: String,
        /// Why it is unusable.
        detail: String,
    },
    /// The TCP connection or HTTP exchange failed.
    #[error("cannot reach {endpoint}: {detail}. Is the server running and is the endpoint right?")]
    Connect {
        /// Endpoint tried.
        endpoint: String,
        /// Transport error.
        detail: String,
    },
    /// The trusted certificates for HTTPS could not be read.
    #[error("cannot use the CA bundle {path}: {detail}")]
    CaBundle {
        /// The file.
        path: String,
        /// What was wrong.
        detail: String,
    },
    /// The server answered with an S3 error.
    #[error("{method} {resource}: {status} {code}: {message}")]
    S3 {
        /// HTTP method.
        method: String,
        /// `/bucket/key` asked for.
        resource: String,
        /// HTTP status.
        status: u16,
        /// S3 error code (e.g. NoSuchKey), or the HTTP reason when none was sent.
        code: String,
        /// Server message.
        message: String,
    },
    /// The response could not be understood.
    #[error("unexpected response to {what}: {detail}")]
    Protocol {
        /// The operation.
        what: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A body stream failed mid-way.
    #[error("transfer failed: {detail}")]
    Body {
        /// The stream's error.
        detail: String,
    },
}

impl ClientError {
    /// The S3 error code, if the server sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::S3 { code, .. } => Some(code),
            _ => None,
        }
    }

    /// HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::S3 { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for errors worth retrying (transport errors, 5xx, throttling).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Connect { .. } | ClientError::Body { .. } => true,
            ClientError::S3 { status, code, .. } => *status >= 500 || code == "SlowDown" || code == "RequestTimeout",
            _ => false,
        }
    }
}

/// Result alias.
pub type ClientResult<T> = Result<T, ClientError>;
