//! One error type for the bench: a message that says what was being done, for a human.

use std::fmt;

#[derive(Debug)]
pub struct BenchError(String);

impl BenchError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    pub fn io(context: impl fmt::Display, error: std::io::Error) -> Self {
        Self(format!("{context}: {error}"))
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BenchError {}
