//! The demo's synthetic users: a fixed population from several countries,
//! each with the device, network, profile and social data of the example
//! catalog, and the region edge nearest to where they are.

use serde_json::{Value, json};

/// One country of the population: its share, the edge nearest to it, and
/// how its data looks.
struct Country {
    code: &'static str,
    /// Per mille of the population.
    share: usize,
    /// The region whose edge is nearest.
    edge: &'static str,
    language: &'static str,
    phone: fn(u64) -> String,
    address: fn(usize) -> String,
    ssid: &'static str,
    /// What the person writes about themselves, in their language, with
    /// `{phone}`, `{email}` and `{iban}` to fill.
    about: &'static str,
    /// The national part of a bank account number (BBAN) for an IBAN, if
    /// the country has IBANs; printed with spaces or not, as people do.
    bban: Option<Bban>,
}

/// A country's BBAN from a user's number, and whether people write the
/// IBAN in groups of four.
type Bban = (fn(u64) -> String, bool);

const COUNTRIES: [Country; 9] = [
    Country {
        code: "FR",
        share: 400,
        edge: "eu-fr",
        language: "fr-FR",
        phone: |n| {
            // 06 10 to 06 29: ranges libphonenumber knows as mobiles.
            format!(
                "+33 6 {} {} {} {}",
                10 + n % 20,
                d2(n / 100),
                d2(n / 10_000),
                d2(n / 1_000_000)
            )
        },
        address: |i| format!("{} rue des Glycines, 75011 Paris", 1 + i),
        ssid: "Livebox",
        about: "Joignable au {phone} ou sur {email}. Pour les remboursements : {iban}.",
        bban: Some((|n| format!("30006000011{n:010}89"), true)),
    },
    Country {
        code: "DE",
        share: 120,
        edge: "eu-fr",
        language: "de-DE",
        phone: |n| format!("+49 151 {:08}", n % 100_000_000),
        address: |i| format!("Lindenstraße {}, 10969 Berlin", 1 + i),
        ssid: "FRITZ!Box",
        about: "Erreichbar unter {phone} oder {email}; Erstattungen bitte auf {iban}.",
        bban: Some((|n| format!("37040044{n:010}"), true)),
    },
    Country {
        code: "ES",
        share: 50,
        edge: "eu-fr",
        language: "es-ES",
        phone: |n| format!("+34 612 {:03} {:03}", n % 1000, (n / 1000) % 1000),
        address: |i| format!("Calle de Alcalá {}, 28014 Madrid", 1 + i),
        ssid: "MOVISTAR",
        about: "Llámame al {phone} o escribe a {email}. Reembolsos a {iban}.",
        bban: Some((|n| format!("21000418{:02}{n:010}", n % 97), false)),
    },
    Country {
        code: "IT",
        share: 50,
        edge: "eu-fr",
        language: "it-IT",
        phone: |n| format!("+39 347 {:03} {:04}", n % 1000, (n / 1000) % 10_000),
        address: |i| format!("Via Garibaldi {}, 10122 Torino", 1 + i),
        ssid: "TIM",
        about: "Chiamami al {phone} o scrivi a {email}; rimborsi su {iban}.",
        bban: Some((|n| format!("X0542811101{:012}", n), true)),
    },
    Country {
        code: "CH",
        share: 30,
        edge: "eu-fr",
        language: "de-CH",
        phone: |n| {
            format!(
                "+41 79 {:03} {} {}",
                n % 1000,
                d2(n / 1000),
                d2(n / 100_000)
            )
        },
        address: |i| format!("Seefeldstrasse {}, 8008 Zürich", 1 + i),
        ssid: "Sunrise",
        about: "Erreichbar unter {phone} oder {email}. Rückerstattung an {iban}.",
        bban: Some((|n| format!("00762{:012}", n), true)),
    },
    Country {
        code: "NO",
        share: 60,
        edge: "eu-no",
        language: "nb-NO",
        phone: |n| format!("+47 412 {} {:03}", d2(n), (n / 100) % 1000),
        address: |i| format!("Strandgata {}, 2317 Hamar", 1 + i),
        ssid: "Telenor",
        about: "Ring meg på {phone} eller send e-post til {email}. Refusjon til {iban}.",
        bban: Some((|n| format!("86011{:06}", n % 1_000_000), false)),
    },
    Country {
        code: "GB",
        share: 60,
        edge: "eu-no",
        language: "en-GB",
        phone: |n| format!("+44 7400 {:06}", n % 1_000_000),
        address: |i| format!("{} Mill Lane, Leeds LS1 4AP", 1 + i),
        ssid: "BTHub",
        about: "Call me on {phone} or email {email}. Refunds to {iban}, please.",
        bban: Some((|n| format!("NWBK601613{:08}", n % 100_000_000), true)),
    },
    Country {
        code: "IE",
        share: 60,
        edge: "eu-no",
        language: "en-IE",
        phone: |n| format!("+353 85 {:03} {:04}", n % 1000, (n / 1000) % 10_000),
        address: |i| format!("{} Harcourt Street, Dublin 2", 1 + i),
        ssid: "eir",
        about: "Text me on {phone} or email {email}. Refunds to {iban}.",
        bban: Some((|n| format!("AIBK931152{:08}", n % 100_000_000), false)),
    },
    Country {
        code: "US",
        share: 170,
        edge: "us-tx",
        language: "en-US",
        phone: |n| format!("+1 512 555 {:04}", n % 10_000),
        address: |i| format!("{} Congress Avenue, Austin, TX 78701", 1 + i),
        ssid: "NETGEAR",
        about: "Call me at {phone} or email {email} any time.",
        bban: None,
    },
];

fn d2(n: u64) -> String {
    format!("{:02}", n % 100)
}

/// An IBAN of `country` around `bban`, with its ISO 13616 check digits
/// (98 minus the number mod 97, letters counting 10 to 35), in groups of
/// four if `spaced`.
fn iban(country: &str, bban: &str, spaced: bool) -> String {
    let digits: String = format!("{bban}{country}00")
        .chars()
        .map(|c| c.to_digit(36).unwrap_or(0).to_string())
        .collect();
    let rem = digits
        .bytes()
        .fold(0u64, |r, b| (r * 10 + u64::from(b - b'0')) % 97);
    let plain = format!("{country}{:02}{bban}", 98 - rem);
    if !spaced {
        return plain;
    }
    let chars: Vec<char> = plain.chars().collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first word of what users of `country` write about themselves.
pub(crate) fn about_lead(country: &str) -> &'static str {
    COUNTRIES
        .iter()
        .find(|c| c.code == country)
        .and_then(|c| c.about.split(' ').next())
        .unwrap_or_default()
}

/// What a user of `country` wrote about themselves, described without
/// any of its values (for the demo's output).
pub(crate) fn about_described(country: &str) -> String {
    let iban = COUNTRIES
        .iter()
        .find(|c| c.code == country)
        .is_some_and(|c| c.bban.is_some());
    format!(
        "their own words with their phone number, an e-mail address{} in {country} formats",
        if iban { " and an IBAN" } else { "" }
    )
}

/// One synthetic user.
#[derive(Clone, Debug)]
pub(crate) struct User {
    /// The app's user id.
    pub(crate) id: String,
    /// Country of residence.
    pub(crate) country: &'static str,
    /// The region whose edge receives this user's events.
    pub(crate) edge: &'static str,
    /// The seeded personal values (phone, address, SSID, contact), for
    /// searching stores and output for them.
    pub(crate) phone: String,
    pub(crate) address: String,
    pub(crate) ssid: String,
    pub(crate) contact: String,
    /// The e-mail address and IBAN written in their `profile.about`.
    pub(crate) email: String,
    pub(crate) iban: Option<String>,
    /// The app's record ids of this user's five events.
    pub(crate) record_ids: Vec<String>,
    events: Vec<Value>,
}

impl User {
    /// The user's five events: account, device, network, profile, social.
    pub(crate) fn events(&self) -> &[Value] {
        &self.events
    }

    /// Whether the user is away from home, sending from another region's edge.
    pub(crate) fn travelling(&self) -> bool {
        COUNTRIES
            .iter()
            .find(|c| c.code == self.country)
            .is_some_and(|c| c.edge != self.edge)
    }
}

/// The population: `n` users in the countries' shares (at least one per
/// country), every tenth French user travelling in the US and every tenth
/// American in France. The same `n` always gives the same users.
pub(crate) fn population(n: usize) -> Vec<User> {
    let mut out = Vec::with_capacity(n);
    let time = time::OffsetDateTime::now_utc().unix_timestamp();
    for c in &COUNTRIES {
        let count = (n * c.share / 1000).max(1);
        let friend = |i: usize| format!("u-{}-{:05}", c.code.to_lowercase(), (i * 7 + 1) % count);
        for i in 0..count {
            let id = format!("u-{}-{i:05}", c.code.to_lowercase());
            let serial = out.len();
            // Distinct digits per user, spread over the number's range.
            let n = 10_000_000 + (i as u64 * 7_919_993) % 89_999_999;
            let edge = match (c.code, i % 10) {
                ("FR", 9) => "us-tx",
                ("US", 9) => "eu-fr",
                _ => c.edge,
            };
            let major = [15, 16, 17, 17, 18, 18, 18][i % 7];
            // A few users on an old version: a group too small to report.
            let os = if i % 400 == 3 {
                "12.5.7".to_owned()
            } else {
                format!("{major}.{}.{}", i % 6, i % 3)
            };
            let email = format!("reach.{serial}@example.net");
            let iban = c.bban.map(|(bban, spaced)| iban(c.code, &bban(n), spaced));
            let user = User {
                email,
                iban,
                phone: (c.phone)(n),
                address: (c.address)(i),
                ssid: format!("{}-{:04X}", c.ssid, (i * 2654435761) % 0x10000),
                contact: format!("friend.{serial}@example.org"),
                record_ids: Vec::new(),
                events: Vec::new(),
                id,
                country: c.code,
                edge,
            };
            let language = if i % 9 == 4 { "en-US" } else { c.language };
            let ip = match i % 3 {
                0 => format!("192.0.2.{}", i % 250),
                1 => format!("198.51.100.{}", i % 250),
                _ => format!("2001:db8:{:x}::{:x}", i % 65_536, serial),
            };
            let fields = [
                ("account", json!({"user_id": user.id})),
                ("device", json!({"language": language, "os_version": os})),
                ("network", json!({"wifi_ssid": user.ssid, "ip": ip})),
                (
                    "profile",
                    json!({"phone": user.phone, "address": user.address, "about": c.about
                        .replace("{phone}", &user.phone)
                        .replace("{email}", &user.email)
                        .replace("{iban}", user.iban.as_deref().unwrap_or_default())}),
                ),
                (
                    "social",
                    json!({"friends": friend(i), "contacts": user.contact}),
                ),
            ];
            let mut user = user;
            for (ds, fields) in fields {
                // Record ids are the app's own and are stored in clear:
                // they say nothing about the user.
                let record_id = format!("rec-{serial:06}-{ds}");
                user.events.push(json!({
                    "user_id": user.id, "country": c.code, "dataset": ds,
                    "record_id": record_id, "time": time - serial as i64, "fields": fields,
                }));
                user.record_ids.push(record_id);
            }
            out.push(user);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_population_is_stable_and_every_seeded_value_is_distinct() {
        let a = population(3000);
        let b = population(3000);
        assert_eq!(a.len(), b.len());
        assert!(a.len() >= 2990, "{}", a.len());
        assert_eq!(a[17].phone, b[17].phone);
        for values in [
            a.iter().map(|u| u.phone.as_str()).collect::<Vec<_>>(),
            a.iter().map(|u| u.address.as_str()).collect(),
            a.iter().map(|u| u.id.as_str()).collect(),
            a.iter().map(|u| u.contact.as_str()).collect(),
        ] {
            let unique: std::collections::BTreeSet<_> = values.iter().collect();
            assert_eq!(unique.len(), values.len(), "a seeded value repeats");
        }
    }

    #[test]
    fn what_users_write_about_themselves_is_scrubbed_of_every_value_in_it() {
        let keys = pseudo::Keys::derive(1, &[7; 32]);
        let scrub = pseudo::Transform::Scrub(Default::default());
        for u in population(3000) {
            let about = u.events()[3]["fields"]["about"]
                .as_str()
                .unwrap()
                .to_owned();
            let values = [Some(&u.phone), Some(&u.email), u.iban.as_ref()];
            for v in values.iter().flatten() {
                assert!(about.contains(v.as_str()), "{} wrote no {v}", u.country);
            }
            let out = scrub
                .apply(&keys, &about, Default::default())
                .unwrap()
                .unwrap();
            for v in values.iter().flatten() {
                assert!(
                    !out.contains(v.as_str()),
                    "{}: {v} left in {out}",
                    u.country
                );
            }
            if let Some(iban) = &u.iban {
                assert!(
                    out.contains("<IBAN_CODE>"),
                    "{}: {iban} not an IBAN: {out}",
                    u.country
                );
            }
        }
    }

    #[test]
    fn every_country_is_present_and_some_users_travel() {
        let users = population(100);
        for c in &COUNTRIES {
            assert!(users.iter().any(|u| u.country == c.code), "{}", c.code);
        }
        let fr_away = users
            .iter()
            .filter(|u| u.country == "FR" && u.travelling())
            .count();
        assert_eq!(fr_away, 4, "every tenth French user sends from us-tx");
        assert!(users.iter().all(|u| u.events().len() == 5));
        // Record ids do not carry the user id.
        assert!(users.iter().all(|u| !u.record_ids[0].contains(&u.id)));
    }
}
