//! Money as an exact decimal string plus ISO 4217 currency. Never a float.

use serde::{Deserialize, Serialize};

/// An amount such as `"414.95"` in `USD`. The amount is validated as a plain decimal (optional `-`,
/// digits, optional fraction) so it can be compared and summed exactly downstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount: String,
    pub currency: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a decimal amount")]
pub struct MoneyError(pub String);

impl Money {
    pub fn new(amount: &str, currency: &str) -> Result<Self, MoneyError> {
        let amount = amount.trim();
        let digits = amount.strip_prefix('-').unwrap_or(amount);
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let valid = !int.is_empty()
            && int.chars().all(|c| c.is_ascii_digit())
            && frac.chars().all(|c| c.is_ascii_digit())
            && !(digits.contains('.') && frac.is_empty());
        if valid {
            Ok(Self { amount: amount.to_owned(), currency: currency.trim().to_ascii_uppercase() })
        } else {
            Err(MoneyError(amount.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_decimal_strings_and_rejects_the_rest() {
        assert_eq!(Money::new("414.95", "usd").unwrap(), Money { amount: "414.95".into(), currency: "USD".into() });
        assert!(Money::new("0", "EUR").is_ok());
        assert!(Money::new("-1.5", "EUR").is_ok());
        for bad in ["", "1.", ".5", "1e3", "1,00", "abc", "NaN"] {
            assert!(Money::new(bad, "USD").is_err(), "{bad}");
        }
    }
}
