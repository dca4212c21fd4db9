//! `${VAR}` and `${VAR:-default}` in the rules file, filled from the environment.
//!
//! A value that came from the environment is treated as a secret: the loader registers it
//! with the [`crate::secret::Redactor`] so that it never appears in output.

/// The result of filling one string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filled {
    pub text: String,
    /// The values that came from the environment (not defaults written in the file).
    pub from_env: Vec<String>,
}

/// The longest value one `${VAR}` may bring in.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpError {
    #[error("environment variable {0} is {1} bytes long, more than the {max} KiB a value may be", max = MAX_VALUE_BYTES / 1024)]
    TooLong(String, usize),
    #[error("environment variable {0} is not set (write ${{{0}:-default}} to give a default)")]
    Unset(String),
    #[error("unterminated ${{ in {0:?}: close it with }}, or write $$ for a literal $")]
    Unterminated(String),
    #[error("invalid variable name {0:?} in ${{...}}: use letters, digits and _")]
    BadName(String),
}

/// Fills every `${NAME}` and `${NAME:-default}` in `input` using `lookup`. `$$` is a literal `$`.
pub fn fill(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Filled, InterpError> {
    if !input.contains('$') {
        return Ok(Filled {
            text: input.to_string(),
            from_env: Vec::new(),
        });
    }
    let mut text = String::with_capacity(input.len());
    let mut from_env = Vec::new();
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        text.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            text.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| InterpError::Unterminated(input.to_string()))?;
            let inner = &body[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                return Err(InterpError::BadName(name.to_string()));
            }
            let value = lookup(name);
            if let Some(v) = value.as_ref().filter(|v| v.len() > MAX_VALUE_BYTES) {
                return Err(InterpError::TooLong(name.to_string(), v.len()));
            }
            match (value, default) {
                (Some(value), _) if !value.is_empty() || default.is_none() => {
                    text.push_str(&value);
                    from_env.push(value);
                }
                (_, Some(d)) => text.push_str(d),
                (None, None) => return Err(InterpError::Unset(name.to_string())),
                // Set but empty, with no default: an empty value is what was asked for.
                (Some(_), None) => {}
            }
            rest = &body[end + 1..];
        } else {
            text.push('$');
            rest = after;
        }
    }
    text.push_str(rest);
    Ok(Filled { text, from_env })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn fills_variables_defaults_and_dollars() {
        let cases = [
            ("plain", "plain", vec![]),
            ("Bearer ${TOKEN}", "Bearer s3cret", vec!["s3cret"]),
            ("${MISSING:-file://outbox}", "file://outbox", vec![]),
            ("${EMPTY:-fallback}", "fallback", vec![]),
            ("${TOKEN:-x}/$$5/$", "s3cret/$5/$", vec!["s3cret"]),
        ];
        for (input, text, secrets) in cases {
            let filled = fill(input, &env).unwrap();
            assert_eq!(filled.text, text, "{input}");
            assert_eq!(filled.from_env, secrets, "{input}");
        }
    }

    #[test]
    fn an_unset_variable_without_default_names_the_variable() {
        let err = fill("x ${NOPE} y", &env).unwrap_err();
        assert_eq!(err, InterpError::Unset("NOPE".into()));
        assert!(err.to_string().contains("NOPE"));
    }

    #[test]
    fn a_value_too_long_is_refused_before_it_is_copied() {
        let big = |_: &str| Some("x".repeat(MAX_VALUE_BYTES + 1));
        assert!(matches!(fill("${BIG}", &big), Err(InterpError::TooLong(n, _)) if n == "BIG"));
    }

    #[test]
    fn rejects_unterminated_and_bad_names() {
        assert!(matches!(
            fill("${TOKEN", &env),
            Err(InterpError::Unterminated(_))
        ));
        assert!(matches!(fill("${a-b}", &env), Err(InterpError::BadName(_))));
    }
}
