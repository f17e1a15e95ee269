//! A seeded generator of short records (~80–100 characters) mixing personal
//! data of every supported kind with look-alikes that are not personal data,
//! labelled with each value's entity type and character span.

use sha2::{Digest, Sha256};

pub(crate) struct Label {
    pub entity: String,
    pub start: usize,
    pub end: usize,
}

pub(crate) struct Record {
    pub text: String,
    pub labels: Vec<Label>,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

struct Builder {
    text: String,
    chars: usize,
    labels: Vec<Label>,
}

impl Builder {
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.chars += s.chars().count();
    }
    fn value(&mut self, entity: &str, s: &str) {
        let start = self.chars;
        self.push(s);
        self.labels.push(Label {
            entity: entity.into(),
            start,
            end: self.chars,
        });
    }
}

const FIRST: &[&str] = &[
    "jean",
    "marie",
    "ola",
    "kari",
    "john",
    "emma",
    "lukas",
    "sofia",
    "liam",
    "aoife",
    "wei",
    "anne-lise",
    "søren",
    "josé",
];
const LAST: &[&str] = &[
    "dupont", "martin", "nordmann", "hansen", "smith", "murphy", "müller", "rossi", "garcia",
    "zhang", "berg",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "exemple.fr",
    "posteo.de",
    "online.no",
    "mail.ie",
    "example.co.uk",
    "corp.example.org",
];
const FILLER: &[&str] = &[
    "merci",
    "please check",
    "ticket updated",
    "vielen Dank",
    "takk",
    "see attached",
    "ok",
    "as discussed",
    "bonne journée",
    "status: open",
    "priority 2",
    "v2.3.1 installed",
    "order 20241118",
    "at 10:30",
    "qty 3",
    "ref 4411-27",
];

fn luhn_digit(body: &str) -> char {
    let sum: u32 = body
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).unwrap_or(0);
            if i % 2 == 0 {
                let y = d * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                d
            }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

fn iban(rng: &mut Rng) -> String {
    let (cc, bban) = match rng.below(5) {
        0 => ("FR", format!("{}{}", rng.digits(21), rng.digits(2))),
        1 => ("DE", rng.digits(18)),
        2 => ("GB", format!("NWBK{}", rng.digits(14))),
        3 => ("NO", rng.digits(11)),
        _ => ("ES", rng.digits(20)),
    };
    // Check digits: 98 - (BBAN || country || "00" as digits) mod 97.
    let s: String = format!("{bban}{cc}00")
        .chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                (c as u32 - 'A' as u32 + 10).to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    let m = s
        .bytes()
        .fold(0u64, |acc, b| (acc * 10 + u64::from(b - b'0')) % 97);
    let raw = format!("{cc}{:02}{bban}", 98 - m);
    if rng.below(2) == 0 {
        raw.as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        raw
    }
}

fn phone(rng: &mut Rng) -> String {
    use rlibphonenumber::PHONE_NUMBER_UTIL as U;
    loop {
        let s = match rng.below(8) {
            0 => format!(
                "+33 6 {} {} {} {}",
                rng.digits(2),
                rng.digits(2),
                rng.digits(2),
                rng.digits(2)
            ),
            1 => format!(
                "06 {} {} {} {}",
                rng.digits(2),
                rng.digits(2),
                rng.digits(2),
                rng.digits(2)
            ),
            2 => format!("+47 4{} {} {}", rng.digits(2), rng.digits(2), rng.digits(3)),
            3 => format!("+49 30 {}", rng.digits(8)),
            4 => format!("+44 20 7946 0{}", rng.digits(3)),
            5 => format!("+353 1 {} {}", rng.digits(3), rng.digits(4)),
            6 => format!("(415) {}-{}", 200 + rng.below(700), rng.digits(4)),
            _ => format!("+86 138 {} {}", rng.digits(4), rng.digits(4)),
        };
        let region = if s.starts_with('(') {
            rlibphonenumber::Region::US
        } else {
            rlibphonenumber::Region::FR
        };
        if U.parse(&s, Some(region))
            .is_ok_and(|n| U.is_valid_number(&n))
        {
            return s;
        }
    }
}

fn card(rng: &mut Rng) -> String {
    let prefix = rng
        .pick(&["4", "51", "55", "2221", "37", "6011", "3530"])
        .to_string();
    let len = if prefix == "37" { 15 } else { 16 };
    let body = format!("{prefix}{}", rng.digits(len - 1 - prefix.len()));
    let n = format!("{body}{}", luhn_digit(&body));
    if rng.below(2) == 0 && len == 16 {
        n.as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        n
    }
}

fn ssn(rng: &mut Rng) -> String {
    format!(
        "{:03}-{:02}-{:04}",
        1 + rng.below(664),
        1 + rng.below(98),
        1 + rng.below(9998)
    )
}

fn nino(rng: &mut Rng) -> String {
    let a = rng.pick(&[
        'A', 'B', 'C', 'E', 'H', 'J', 'K', 'L', 'M', 'P', 'R', 'S', 'W',
    ]);
    let b = rng.pick(&['A', 'B', 'C', 'E', 'H', 'J', 'L', 'M', 'P', 'R', 'S', 'W']);
    format!(
        "{a}{b} {} {} {} {}",
        rng.digits(2),
        rng.digits(2),
        rng.digits(2),
        rng.pick(&['A', 'B', 'C', 'D'])
    )
}

fn nif(rng: &mut Rng) -> String {
    let n = rng.below(100_000_000);
    format!(
        "{n:08}{}",
        char::from(b"TRWAGMYFPDXBNJZSQVHLCKE"[(n % 23) as usize])
    )
}

fn nie(rng: &mut Rng) -> String {
    let lead = rng.below(3);
    let n = rng.below(10_000_000);
    let v = lead * 10_000_000 + n;
    format!(
        "{}{n:07}{}",
        ['X', 'Y', 'Z'][lead as usize],
        char::from(b"TRWAGMYFPDXBNJZSQVHLCKE"[(v % 23) as usize])
    )
}

fn fiscal_code(rng: &mut Rng) -> String {
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    let letters = |rng: &mut Rng, n: usize| -> String {
        (0..n)
            .map(|_| char::from(b'A' + rng.below(26) as u8))
            .collect()
    };
    let body = format!(
        "{}{}{}{:02}{}{}",
        letters(rng, 6),
        rng.digits(2),
        rng.pick(&['A', 'B', 'C', 'D', 'E', 'H', 'L', 'M', 'P', 'R', 'S', 'T']),
        1 + rng.below(28),
        letters(rng, 1),
        rng.digits(3)
    );
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let v = if b.is_ascii_digit() {
                u32::from(b - b'0')
            } else {
                u32::from(b - b'A')
            };
            if i % 2 == 0 { ODD[v as usize] } else { v }
        })
        .sum();
    format!("{body}{}", char::from(b'A' + (sum % 26) as u8))
}

fn btc(rng: &mut Rng) -> String {
    let mut payload = vec![0u8];
    payload.extend((0..20).map(|_| rng.below(256) as u8));
    let check = Sha256::digest(Sha256::digest(&payload));
    payload.extend_from_slice(&check[..4]);
    bs58::encode(payload).into_string()
}

fn ip(rng: &mut Rng) -> String {
    if rng.below(4) == 0 {
        format!(
            "2001:db8:{:x}::{:x}",
            rng.below(65536),
            1 + rng.below(65535)
        )
    } else {
        format!(
            "{}.{}.{}.{}",
            1 + rng.below(223),
            rng.below(256),
            rng.below(256),
            1 + rng.below(254)
        )
    }
}

fn name(rng: &mut Rng) -> (String, String) {
    (rng.pick(FIRST).to_string(), rng.pick(LAST).to_string())
}

/// One entity value with a sentence around it.
fn clause(rng: &mut Rng, b: &mut Builder) {
    let (first, last) = name(rng);
    match rng.below(14) {
        0 => {
            b.push("email: ");
            let e = format!("{first}.{last}{}@{}", rng.below(100), rng.pick(DOMAINS));
            b.value("EMAIL_ADDRESS", &e);
        }
        1 | 2 => {
            b.push(rng.pick(&["phone ", "tel. ", "call ", "mobile: ", "appelez le "]));
            let p = phone(rng);
            b.value("PHONE_NUMBER", &p);
        }
        3 => {
            b.push(rng.pick(&["card ", "paid with ", "carte "]));
            let c = card(rng);
            b.value("CREDIT_CARD", &c);
        }
        4 => {
            b.push("IBAN ");
            let i = iban(rng);
            b.value("IBAN_CODE", &i);
        }
        5 => {
            b.push(rng.pick(&["login from ", "client ip ", "seen at "]));
            let i = ip(rng);
            b.value("IP_ADDRESS", &i);
        }
        6 => {
            b.push("profile https://");
            let u = format!("{}/u/{first}{}", rng.pick(DOMAINS), rng.below(1000));
            // The label covers the whole URL, scheme included.
            let start = b.chars - "https://".chars().count();
            b.push(&u);
            b.labels.push(Label {
                entity: "URL".into(),
                start,
                end: b.chars,
            });
        }
        7 => {
            b.push("SSN ");
            let s = ssn(rng);
            b.value("US_SSN", &s);
        }
        8 => {
            b.push("NI number ");
            let s = nino(rng);
            b.value("UK_NINO", &s);
        }
        9 => {
            b.push(rng.pick(&["DNI ", "NIF "]));
            let s = nif(rng);
            b.value("ES_NIF", &s);
        }
        10 => {
            b.push("NIE ");
            let s = nie(rng);
            b.value("ES_NIE", &s);
        }
        11 => {
            b.push("codice fiscale ");
            let s = fiscal_code(rng);
            b.value("IT_FISCAL_CODE", &s);
        }
        12 => {
            b.push("btc ");
            let s = btc(rng);
            b.value("CRYPTO", &s);
        }
        _ => {
            // Look-alikes only: numbers that are not personal data.
            let s = match rng.below(4) {
                0 => format!("order {}", rng.digits(10)),
                1 => format!(
                    "build {}.{}.{}.{}",
                    rng.below(10),
                    rng.below(10),
                    rng.below(10),
                    rng.below(10)
                ),
                2 => format!("invoice {}", rng.digits(16)),
                _ => format!("tracking {}-{}", rng.digits(3), rng.digits(7)),
            };
            b.push(&s);
        }
    }
}

pub(crate) fn generate(n: usize, seed: u64) -> Vec<Record> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| {
            let mut b = Builder {
                text: String::new(),
                chars: 0,
                labels: Vec::new(),
            };
            let (first, last) = name(&mut rng);
            b.push(&format!("{} {}: ", capitalise(&first), capitalise(&last)));
            clause(&mut rng, &mut b);
            b.push(", ");
            clause(&mut rng, &mut b);
            while b.chars < 80 {
                b.push(", ");
                b.push(rng.pick(FILLER));
            }
            Record {
                text: b.text,
                labels: b.labels,
            }
        })
        .collect()
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Ordinary prose, the words of a support exchange.
const PROSE: &[&str] = &[
    "the",
    "and",
    "to",
    "of",
    "a",
    "in",
    "is",
    "it",
    "you",
    "that",
    "we",
    "for",
    "on",
    "with",
    "as",
    "was",
    "this",
    "have",
    "be",
    "at",
    "or",
    "not",
    "your",
    "but",
    "all",
    "can",
    "will",
    "there",
    "when",
    "which",
    "their",
    "would",
    "about",
    "could",
    "after",
    "before",
    "because",
    "account",
    "order",
    "delivery",
    "weather",
    "morning",
    "evening",
    "thanks",
    "please",
    "again",
    "problem",
    "screen",
    "update",
    "music",
    "garden",
    "holiday",
    "family",
    "message",
    "answer",
    "question",
    "service",
    "support",
    "week",
    "month",
    "yesterday",
    "tomorrow",
    "really",
    "merci",
    "bonjour",
    "cordialement",
    "également",
    "déjà",
    "très",
    "über",
    "für",
    "straße",
];

/// Documents of about `size` bytes of prose, each with one identifier of
/// the dense corpus's kinds at a random place (the sparse corpus).
pub(crate) fn sparse(n: usize, size: usize, seed: u64) -> Vec<Record> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| {
            let mut b = Builder {
                text: String::new(),
                chars: 0,
                labels: Vec::new(),
            };
            let at = rng.below(size as u64) as usize;
            let mut placed = false;
            while b.text.len() < size {
                let words = 6 + rng.below(14) as usize;
                let first = capitalise(rng.pick(PROSE));
                b.push(&first);
                for _ in 1..words {
                    b.push(" ");
                    b.push(rng.pick(PROSE));
                }
                if !placed && b.text.len() >= at {
                    b.push(", ");
                    clause(&mut rng, &mut b);
                    placed = true;
                }
                b.push(". ");
            }
            Record {
                text: b.text,
                labels: b.labels,
            }
        })
        .collect()
}
