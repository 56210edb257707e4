//! Money as integer nano-USD. The ledger never holds a float: prices given in
//! config as USD per million tokens are converted once, at load, to nanos per token.

use std::fmt;

/// An amount of US dollars in nano-USD (1 USD = 1_000_000_000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Nanos(pub i64);

/// Nano-USD in one USD.
pub const NANOS_PER_USD: i64 = 1_000_000_000;

/// Why a USD amount typed by a person was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("not a number")]
    NotANumber,
    #[error("must not be negative")]
    Negative,
    #[error("at most 4 decimals (hundredths of a cent)")]
    TooPrecise,
    #[error("too large")]
    TooLarge,
}

impl Nanos {
    /// Zero dollars.
    pub const ZERO: Nanos = Nanos(0);

    /// Parses a non-negative USD amount such as `20`, `20.5` or `0.0125`.
    /// At most 4 decimals (a hundredth of a cent) are accepted: budgets are
    /// typed by people, and more precision than that is a typo.
    pub fn parse_usd(text: &str) -> Result<Nanos, MoneyError> {
        let text = text.trim().trim_start_matches('$').trim();
        if text.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        let (whole, frac) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
            return Err(MoneyError::NotANumber);
        }
        if frac.len() > 4 {
            return Err(MoneyError::TooPrecise);
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| MoneyError::TooLarge)?
        };
        let frac_nanos: i64 = format!("{frac:0<9}")
            .parse()
            .map_err(|_| MoneyError::NotANumber)?;
        whole
            .checked_mul(NANOS_PER_USD)
            .and_then(|n| n.checked_add(frac_nanos))
            .filter(|n| *n <= 1_000_000_000 * NANOS_PER_USD)
            .map(Nanos)
            .ok_or(MoneyError::TooLarge)
    }

    /// Converts a JSON number of USD (management API) into nanos, with the same rules
    /// as [`Nanos::parse_usd`]. The float is printed and re-parsed so `0.1` stays exact.
    pub fn from_usd_f64(value: f64) -> Result<Nanos, MoneyError> {
        if !value.is_finite() {
            return Err(MoneyError::NotANumber);
        }
        Nanos::parse_usd(&format!("{value}"))
    }

    /// USD with exactly `decimals` decimals, rounded half away from zero.
    pub fn format_usd(self, decimals: u32) -> String {
        let decimals = decimals.min(9);
        let step = 10u64.pow(9 - decimals);
        let sign = if self.0 < 0 { "-" } else { "" };
        let rounded = self.0.unsigned_abs().saturating_add(step / 2) / step;
        let unit = 10u64.pow(decimals);
        if decimals == 0 {
            return format!("{sign}{rounded}");
        }
        format!(
            "{sign}{}.{:0width$}",
            rounded / unit,
            rounded % unit,
            width = decimals as usize
        )
    }

    /// USD as a JSON number for API responses (display only, never stored).
    pub fn as_usd_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_USD as f64
    }

    /// Saturating addition: ledger sums never wrap.
    pub fn saturating_add(self, other: Nanos) -> Nanos {
        Nanos(self.0.saturating_add(other.0))
    }

    /// Saturating subtraction.
    pub fn saturating_sub(self, other: Nanos) -> Nanos {
        Nanos(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Nanos {
    /// Two decimals, the way budgets are shown on pages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format_usd(2))
    }
}

/// A price per token, converted from USD per million tokens at load.
/// $1/Mtok is 1000 nanos per token, so prices with more than 3 decimals per Mtok would
/// be fractional nanos; the price is held in femto-USD per token (1e-15) to stay
/// integer and exact, and a request's total is rounded up to whole nanos once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PricePerToken {
    femto_usd: i64,
}

impl PricePerToken {
    /// From USD per million tokens (config's `input_cost_per_mtok`).
    pub fn from_usd_per_mtok(usd: f64) -> Option<PricePerToken> {
        if !usd.is_finite() || !(0.0..=1_000_000.0).contains(&usd) {
            return None;
        }
        // usd/Mtok = usd * 1e-6 per token = usd * 1e9 femto per token.
        Some(PricePerToken {
            femto_usd: (usd * 1e9).round() as i64,
        })
    }

    /// From femto-USD per token (the built-in price table).
    pub const fn from_femto(femto_usd: i64) -> PricePerToken {
        PricePerToken { femto_usd }
    }

    /// From USD per token (the shared price table's `input_cost_per_token`).
    pub fn from_usd_per_token(usd: f64) -> Option<PricePerToken> {
        PricePerToken::from_usd_per_mtok(usd * 1e6)
    }

    /// USD per million tokens, for display.
    pub fn usd_per_mtok(self) -> f64 {
        self.femto_usd as f64 / 1e9
    }

    /// Cost of `tokens` tokens in femto-USD (exact).
    pub fn femto_cost(self, tokens: u64) -> i128 {
        self.femto_usd as i128 * tokens as i128
    }
}

/// Rounds a femto-USD total up to whole nanos (never undercharge by rounding).
pub fn femto_to_nanos_ceil(femto: i128) -> Nanos {
    let nanos = (femto + 999_999) / 1_000_000;
    Nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_typed_budgets() {
        assert_eq!(Nanos::parse_usd("100"), Ok(Nanos(100 * NANOS_PER_USD)));
        assert_eq!(Nanos::parse_usd("20.5"), Ok(Nanos(20_500_000_000)));
        assert_eq!(Nanos::parse_usd("0.0001"), Ok(Nanos(100_000)));
        assert_eq!(Nanos::parse_usd(".5"), Ok(Nanos(500_000_000)));
        assert_eq!(Nanos::parse_usd("-1"), Err(MoneyError::Negative));
        assert_eq!(Nanos::parse_usd("abc"), Err(MoneyError::NotANumber));
        assert_eq!(Nanos::parse_usd(""), Err(MoneyError::NotANumber));
        assert_eq!(Nanos::parse_usd("1e5"), Err(MoneyError::NotANumber));
        assert_eq!(Nanos::parse_usd("0.00001"), Err(MoneyError::TooPrecise));
        assert_eq!(Nanos::from_usd_f64(0.1), Ok(Nanos(100_000_000)));
    }

    #[test]
    fn formats_with_rounding() {
        assert_eq!(Nanos(50 * NANOS_PER_USD).to_string(), "50.00");
        assert_eq!(Nanos(1_234_567).format_usd(6), "0.001235");
        assert_eq!(Nanos(-1_500_000_000).format_usd(2), "-1.50");
        assert_eq!(Nanos(7).format_usd(0), "0");
    }

    #[test]
    fn prices_are_exact_integers() {
        let p = PricePerToken::from_usd_per_mtok(2.5).expect("valid");
        assert_eq!(
            femto_to_nanos_ceil(p.femto_cost(1_000_000)),
            Nanos(2_500_000_000)
        );
        let cheap = PricePerToken::from_usd_per_mtok(0.15).expect("valid");
        assert_eq!(femto_to_nanos_ceil(cheap.femto_cost(10)), Nanos(1500));
        let odd = PricePerToken::from_usd_per_mtok(0.0375).expect("valid");
        assert_eq!(femto_to_nanos_ceil(odd.femto_cost(3)), Nanos(113));
        let table = PricePerToken::from_usd_per_token(2.5e-6).expect("valid");
        assert_eq!(table, p);
    }
}
