//! VM errors: an [`ErrorCode`] plus a message, rendered as `<Code>: <message>`.

use std::fmt;

macro_rules! error_codes {
    ($($name:ident),* $(,)?) => {
        /// The error codes of the reference VM, in declaration order.
        ///
        /// `CustomErrorCode(n)` is produced by `ABORT n` and renders as
        /// `CustomErrorCode <n>`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $(
                #[allow(missing_docs)]
                $name,
            )*
            /// `ABORT n`: a program-chosen error code.
            CustomErrorCode(i32),
        }

        impl ErrorCode {
            /// The code's name as printed (`CustomErrorCode <n>` for custom codes).
            pub fn name(&self) -> String {
                match self {
                    $(ErrorCode::$name => stringify!($name).to_string(),)*
                    ErrorCode::CustomErrorCode(n) => format!("CustomErrorCode {n}"),
                }
            }

            /// Parses a code name as printed by [`ErrorCode::name`].
            pub fn from_name(s: &str) -> Option<ErrorCode> {
                match s {
                    $(stringify!($name) => Some(ErrorCode::$name),)*
                    _ => {
                        let n = s.strip_prefix("CustomErrorCode ")?;
                        crate::num::parse_i32_strict(n).map(ErrorCode::CustomErrorCode)
                    }
                }
            }
        }
    };
}

error_codes!(
    InvalidProgram,
    InvalidInstruction,
    InvalidRegister,
    InvalidJump,
    UnknownFunction,
    UnknownBuiltin,
    ArityMismatch,
    TypeMismatch,
    DivisionByZero,
    ArithmeticOverflow,
    ArithmeticError,
    NoModularInverse,
    InvalidRoundingMode,
    MissingInput,
    MissingContext,
    MissingState,
    StatePathInvalid,
    ProcessNotFound,
    ProcessDeadlock,
    ProcessCancelled,
    MailboxTooLarge,
    RemoteNodeUnknown,
    RemoteProcessUnknown,
    AmbiguousTransition,
    NoTransition,
    GuardRejected,
    InvariantFailed,
    ProofAssertionFailed,
    StepLimitExceeded,
    TraceLimitExceeded,
    UnsupportedVersion,
    DecryptionFailed,
    InputValidation,
);

/// A VM error: code and message. Displays as `<Code>: <message>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmError {
    /// The error code.
    pub code: ErrorCode,
    /// The human-readable message (the reference's text, possibly followed by location).
    pub msg: String,
}

impl VmError {
    /// Builds an error from a code and a message.
    pub fn new(code: ErrorCode, msg: impl Into<String>) -> VmError {
        VmError {
            code,
            msg: msg.into(),
        }
    }

    /// The PureScript `show` form: `VMError <Code>: <message>`.
    pub fn show(&self) -> String {
        format!("VMError {}", self)
    }
}

impl fmt::Display for VmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.msg)
    }
}

impl std::error::Error for VmError {}

/// Result type used throughout the VM. The error is boxed so that the
/// success path stays small.
pub type VmResult<T> = Result<T, Box<VmError>>;

/// Builds a boxed [`VmError`]; `err(ErrorCode::TypeMismatch, "...")`.
#[cold]
pub fn err<T>(code: ErrorCode, msg: impl Into<String>) -> VmResult<T> {
    Err(Box::new(VmError::new(code, msg)))
}

/// Builds a boxed [`VmError`] value (not wrapped in `Err`).
#[cold]
pub fn vm_error(code: ErrorCode, msg: impl Into<String>) -> Box<VmError> {
    Box::new(VmError::new(code, msg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_the_reference() {
        let e = VmError::new(ErrorCode::TypeMismatch, "ADD requires numeric types");
        assert_eq!(e.to_string(), "TypeMismatch: ADD requires numeric types");
        let c = VmError::new(ErrorCode::CustomErrorCode(-5), "Aborted");
        assert_eq!(c.to_string(), "CustomErrorCode -5: Aborted");
        assert_eq!(c.show(), "VMError CustomErrorCode -5: Aborted");
    }

    #[test]
    fn names_round_trip() {
        for c in [
            ErrorCode::InputValidation,
            ErrorCode::CustomErrorCode(7),
            ErrorCode::InvalidProgram,
        ] {
            assert_eq!(ErrorCode::from_name(&c.name()), Some(c));
        }
        assert_eq!(ErrorCode::from_name("Nope"), None);
    }
}
