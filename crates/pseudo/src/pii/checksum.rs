//! Check-digit and format validation for the identifiers the recognisers
//! find. Each takes the candidate as matched (separators included) and says
//! whether it is a valid identifier of that kind.

pub(super) fn digits(s: &str) -> Vec<u32> {
    s.chars().filter_map(|c| c.to_digit(10)).collect()
}

/// Luhn (ISO/IEC 7812-1) over the digits of `s`.
pub(crate) fn luhn(s: &str) -> bool {
    let d = digits(s);
    if d.is_empty() {
        return false;
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Payment card number: 12–19 digits, Luhn, and a current issuer range.
pub(crate) fn credit_card(s: &str) -> bool {
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    let n = d.len();
    if !(12..=19).contains(&n) || !luhn(&d) {
        return false;
    }
    // Separators must be regular: all spaces or all dashes, or none.
    let seps: Vec<char> = s.chars().filter(|c| !c.is_ascii_digit()).collect();
    if seps.windows(2).any(|w| w[0] != w[1]) {
        return false;
    }
    let prefix = |len: usize| d[..len].parse::<u32>().unwrap_or(0);
    // (prefix length, low, high, min length, max length), per issuer.
    const RANGES: &[(usize, u32, u32, usize, usize)] = &[
        (1, 4, 4, 13, 19),       // Visa (13, 16, 19) and Visa Electron
        (2, 51, 55, 16, 16),     // Mastercard
        (4, 2221, 2720, 16, 16), // Mastercard 2-series
        (2, 34, 34, 15, 15),     // American Express
        (2, 37, 37, 15, 15),     // American Express
        (4, 6011, 6011, 16, 19), // Discover
        (3, 644, 649, 16, 19),   // Discover
        (2, 65, 65, 16, 19),     // Discover, RuPay
        (3, 300, 305, 14, 19),   // Diners Club International
        (4, 3095, 3095, 14, 19), // Diners Club International
        (2, 36, 36, 14, 19),     // Diners Club International
        (2, 38, 39, 14, 19),     // Diners Club International
        (4, 3528, 3589, 16, 19), // JCB
        (2, 62, 62, 16, 19),     // UnionPay (and Discover co-brands)
        (2, 81, 82, 16, 16),     // UnionPay, RuPay
        (4, 2200, 2204, 16, 19), // Mir
        (2, 60, 60, 16, 19),     // RuPay, Discover
        (3, 508, 508, 16, 16),   // RuPay
        (3, 353, 353, 16, 16),   // RuPay co-brand
        (3, 356, 356, 16, 16),   // RuPay co-brand
        (2, 50, 50, 12, 19),     // Maestro (5018, 5020, 5038, 5019 Dankort, 506099–506198 Verve)
        (2, 56, 59, 12, 19),     // Maestro
        (2, 63, 63, 12, 19),     // Maestro (6304), InterPayment (636)
        (2, 67, 69, 12, 19),     // Maestro (6759, 6761–6763)
        (2, 64, 64, 16, 19),     // Discover 644–649 (above) and others in 64
        (2, 66, 66, 16, 19),     // Maestro/regional (e.g. 6666)
        (4, 9792, 9792, 16, 16), // Troy
        (1, 1, 1, 15, 15),       // UATP
    ];
    RANGES.iter().any(|&(plen, lo, hi, min, max)| {
        (min..=max).contains(&n) && (lo..=hi).contains(&prefix(plen))
    })
}

/// IBAN: per-country length and the ISO 7064 mod-97 check.
pub(crate) fn iban(s: &str) -> bool {
    let c: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    c.parse::<iban::Iban>().is_ok()
}

/// Bitcoin addresses: Base58Check (P2PKH `1…`, P2SH `3…`) or bech32/bech32m
/// (`bc1…`).
pub(crate) fn crypto_address(s: &str) -> bool {
    if s.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("bc1")) {
        return bech32::segwit::decode(s).is_ok_and(|(hrp, _, _)| hrp == bech32::hrp::BC);
    }
    bs58::decode(s)
        .with_check(None)
        .into_vec()
        .is_ok_and(|v| v.len() == 21 && (v[0] == 0x00 || v[0] == 0x05))
}

/// The characters of `s` other than `seps`, if every separator used is the
/// same character (`1234 5678-9012` is not one number).
pub(super) fn compact(s: &str, seps: &str) -> Option<String> {
    let mut sep = None;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if seps.contains(c) {
            if sep.is_some_and(|x| x != c) {
                return None;
            }
            sep = Some(c);
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Verhoeff check (dihedral group D5) over a string of ASCII digits; false
/// for anything else. <https://en.wikipedia.org/wiki/Verhoeff_algorithm>
pub(super) fn verhoeff(s: &str) -> bool {
    // The group operation of D5: rotations 0-4, reflections 5-9.
    fn mul(i: usize, j: usize) -> usize {
        match (i < 5, j < 5) {
            (true, true) => (i + j) % 5,
            (true, false) => 5 + (i + j) % 5,
            (false, true) => 5 + (i + 5 - j) % 5,
            (false, false) => (i + 5 - j) % 5,
        }
    }
    // The position permutation, applied `k` times.
    const P1: [usize; 10] = [1, 5, 7, 6, 2, 8, 3, 0, 9, 4];
    let perm = |k: usize, mut x: usize| {
        for _ in 0..k {
            x = P1[x];
        }
        x
    };
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let c = s
        .bytes()
        .rev()
        .enumerate()
        .fold(0, |c, (i, b)| mul(c, perm(i % 8, usize::from(b - b'0'))));
    c == 0
}

/// Whether `year`-`month`-`day` is a date of the Gregorian calendar.
pub(super) fn is_date(year: u32, month: u32, day: u32) -> bool {
    days_in_month(year, month) >= day && day >= 1
}

/// Days in `month` (1–12) of `year`, Gregorian; 0 for no such month.
pub(super) fn days_in_month(year: u32, month: u32) -> u32 {
    let (Ok(year), Ok(month)) = (i32::try_from(year), u8::try_from(month)) else {
        return 0;
    };
    time::Month::try_from(month).map_or(0, |m| u32::from(m.length(year)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_card_ranges() {
        assert!(credit_card("4111 1111 1111 1111"));
        assert!(credit_card("5500-0000-0000-0004"));
        assert!(credit_card("378282246310005"));
        assert!(credit_card("2221000000000009"));
        assert!(credit_card("3530111333300000"));
        assert!(credit_card("6011111111111117"));
        assert!(!credit_card("4111 1111 1111 1112"), "bad Luhn");
        assert!(!credit_card("4111-1111 1111-1111"), "mixed separators");
        assert!(!credit_card("9111111111111111"), "no issuer");
        assert!(!credit_card("37828224631000"), "Amex is 15 digits");
    }

    #[test]
    fn iban_and_crypto() {
        assert!(iban("FR76 3000 6000 0112 3456 7890 189"));
        assert!(iban("GB82WEST12345698765432"));
        assert!(!iban("GB82WEST12345698765433"));
        assert!(crypto_address("1BoatSLRHtKNngkdXEeobR76b53LETtpyT"));
        assert!(!crypto_address("1BoatSLRHtKNngkdXEeobR76b53LETtpyU"));
        assert!(crypto_address("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"));
        assert!(!crypto_address(
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5"
        ));
    }
}
