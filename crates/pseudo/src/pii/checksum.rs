//! Check-digit and format validation for the identifiers the recognisers
//! find. Each takes the candidate as matched (separators included) and says
//! whether it is a valid identifier of that kind.

fn digits(s: &str) -> Vec<u32> {
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

/// French NIR (numéro de sécurité sociale): 13 characters and a key of
/// `97 - (number mod 97)`, with Corsica's `2A`/`2B` counted as 19/18.
pub(crate) fn fr_nir(s: &str) -> bool {
    let c: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if c.len() != 15 {
        return false;
    }
    let (body, key) = c.split_at(13);
    let body = body.replacen("2A", "19", 1).replacen("2B", "18", 1);
    let (Ok(n), Ok(key)) = (body.parse::<u64>(), key.parse::<u64>()) else {
        return false;
    };
    let month: u32 = c[3..5].parse().unwrap_or(0);
    let month_ok =
        (1..=12).contains(&month) || (20..=42).contains(&month) || (50..=99).contains(&month);
    month_ok
        && matches!(c.as_bytes()[0], b'1' | b'2' | b'3' | b'4' | b'7' | b'8')
        && key == 97 - n % 97
}

/// Norwegian fødselsnummer (and D-/H-numbers): a valid date and both
/// modulus-11 check digits.
pub(crate) fn no_fnr(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 11 {
        return false;
    }
    let mut day = d[0] * 10 + d[1];
    let mut month = d[2] * 10 + d[3];
    if day > 40 {
        day -= 40; // D-number
    }
    if month > 80 {
        month -= 80; // synthetic test number
    } else if month > 40 {
        month -= 40; // H-number
    }
    if !(1..=31).contains(&day) || !(1..=12).contains(&month) {
        return false;
    }
    let check = |weights: &[u32], n: usize| -> Option<u32> {
        let sum: u32 = weights.iter().zip(&d[..n]).map(|(w, x)| w * x).sum();
        match 11 - sum % 11 {
            11 => Some(0),
            10 => None,
            k => Some(k),
        }
    };
    check(&[3, 7, 6, 1, 8, 9, 4, 5, 2], 9) == Some(d[9])
        && check(&[5, 4, 3, 2, 7, 6, 5, 4, 3, 2], 10) == Some(d[10])
}

const NIF_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

/// Spanish NIF (DNI): 8 digits and the letter of their value mod 23.
pub(crate) fn es_nif(s: &str) -> bool {
    let c: String = s
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .collect::<String>()
        .to_ascii_uppercase();
    c.len() == 9
        && c[..8]
            .parse::<u32>()
            .is_ok_and(|n| NIF_LETTERS[(n % 23) as usize] == c.as_bytes()[8])
}

/// Spanish NIE: X, Y or Z (0, 1, 2), 7 digits and the NIF letter.
pub(crate) fn es_nie(s: &str) -> bool {
    let c: String = s
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .collect::<String>()
        .to_ascii_uppercase();
    if c.len() != 9 {
        return false;
    }
    let lead = match c.as_bytes()[0] {
        b'X' => '0',
        b'Y' => '1',
        b'Z' => '2',
        _ => return false,
    };
    es_nif(&format!("{lead}{}", &c[1..]))
}

/// Italian codice fiscale: 16 characters with its control letter.
pub(crate) fn it_fiscal_code(s: &str) -> bool {
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    let c = s.to_ascii_uppercase();
    if c.len() != 16 || !c.is_ascii() {
        return false;
    }
    let mut sum = 0;
    for (i, ch) in c.bytes().take(15).enumerate() {
        let v = match ch {
            b'0'..=b'9' => u32::from(ch - b'0'),
            b'A'..=b'Z' => u32::from(ch - b'A'),
            _ => return false,
        };
        // Positions count from 1: odd positions use the table.
        sum += if i % 2 == 0 { ODD[v as usize] } else { v };
    }
    c.as_bytes()[15] == b'A' + (sum % 26) as u8
}

/// German Steuerliche Identifikationsnummer: 11 digits, no leading zero,
/// exactly one digit repeated (twice, or three times but not three in a
/// row) in the first ten, and an ISO 7064 MOD 11,10 check digit.
pub(crate) fn de_tax_id(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 11 || d[0] == 0 {
        return false;
    }
    let mut counts = [0u8; 10];
    for &x in &d[..10] {
        counts[x as usize] += 1;
    }
    let repeated: Vec<u8> = counts.iter().copied().filter(|&c| c > 1).collect();
    if repeated.len() != 1 || repeated[0] > 3 {
        return false;
    }
    if repeated[0] == 3 && d[..10].windows(3).any(|w| w[0] == w[1] && w[1] == w[2]) {
        return false;
    }
    let mut product = 10;
    for &x in &d[..10] {
        let mut sum = (x + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (2 * sum) % 11;
    }
    let check = match 11 - product {
        10 => 0,
        c => c,
    };
    check == d[10]
}

/// UK National Insurance number prefixes that are never issued.
pub(crate) fn uk_nino(s: &str) -> bool {
    let c: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let b = c.as_bytes();
    if b.len() != 9 {
        return false;
    }
    !b"DFIQUV".contains(&b[0])
        && !b"DFIOQUV".contains(&b[1])
        && !["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"].contains(&&c[..2])
}

/// US Social Security number: consistent separators and an area, group and
/// serial that are ever issued.
pub(crate) fn us_ssn(s: &str) -> bool {
    let seps: Vec<char> = s.chars().filter(|c| !c.is_ascii_digit()).collect();
    if !(seps.is_empty() || (seps.len() == 2 && seps[0] == seps[1])) {
        return false;
    }
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    if d.len() != 9 || d.bytes().all(|b| b == d.as_bytes()[0]) || d == "123456789" {
        return false;
    }
    let area: u32 = d[..3].parse().unwrap_or(0);
    let group: u32 = d[3..5].parse().unwrap_or(0);
    let serial: u32 = d[5..].parse().unwrap_or(0);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// IBAN: per-country length and the ISO 7064 mod-97 check.
pub(crate) fn iban(s: &str) -> bool {
    let c: String = s.chars().filter(|c| !c.is_whitespace()).collect();
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
    fn national_identifiers() {
        assert!(fr_nir("1 85 05 78 006 084 91"));
        assert!(!fr_nir("1 85 05 78 006 084 92"));
        assert!(fr_nir("2 69 05 2A 123 456 88"), "Corsica");
        assert!(es_nif("12345678Z"));
        assert!(!es_nif("12345678A"));
        assert!(es_nie("X1234567L"));
        assert!(!es_nie("X1234567T"));
        assert!(it_fiscal_code("RSSMRA85T10A562S"));
        assert!(!it_fiscal_code("RSSMRA85T10A562T"));
        assert!(de_tax_id("86095742719"));
        assert!(!de_tax_id("86095742718"));
        assert!(!de_tax_id("01234567890"));
        assert!(uk_nino("AB 12 34 56 C"));
        assert!(!uk_nino("GB 12 34 56 C"));
        assert!(!uk_nino("DA 12 34 56 C"));
        assert!(us_ssn("078-05-1120"));
        assert!(!us_ssn("666-05-1120"));
        assert!(!us_ssn("078-05 1120"));
        assert!(!us_ssn("000-12-3456"));
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

    #[test]
    fn norwegian_fodselsnummer() {
        // Synthetic numbers built with the published algorithm.
        assert!(no_fnr(&make_fnr("150765", "005")));
        assert!(no_fnr(&make_fnr("410190", "123")), "D-number");
        assert!(!no_fnr("15076500566"));
        assert!(!no_fnr(&make_fnr("320190", "123")), "day 32");
    }

    /// Builds a fødselsnummer with both check digits, or a birth date and
    /// individual number whose first check digit would be 10 (then tries the next).
    fn make_fnr(date: &str, ind: &str) -> String {
        let mut ind: u32 = ind.parse().unwrap();
        loop {
            let base = format!("{date}{ind:03}");
            let d: Vec<u32> = base.chars().map(|c| c.to_digit(10).unwrap()).collect();
            let k = |w: &[u32], d: &[u32]| match 11
                - w.iter().zip(d).map(|(a, b)| a * b).sum::<u32>() % 11
            {
                11 => Some(0),
                10 => None,
                k => Some(k),
            };
            if let Some(k1) = k(&[3, 7, 6, 1, 8, 9, 4, 5, 2], &d) {
                let mut d2 = d.clone();
                d2.push(k1);
                if let Some(k2) = k(&[5, 4, 3, 2, 7, 6, 5, 4, 3, 2], &d2) {
                    return format!("{base}{k1}{k2}");
                }
            }
            ind += 1;
        }
    }
}
