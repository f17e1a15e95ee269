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
}

const COUNTRIES: [Country; 9] = [
    Country {
        code: "FR",
        share: 400,
        edge: "eu-fr",
        language: "fr-FR",
        phone: |n| {
            format!(
                "+33 6 {} {} {} {}",
                d2(n),
                d2(n / 100),
                d2(n / 10_000),
                d2(n / 1_000_000)
            )
        },
        address: |i| format!("{} rue des Glycines, 75011 Paris", 1 + i),
        ssid: "Livebox",
    },
    Country {
        code: "DE",
        share: 120,
        edge: "eu-fr",
        language: "de-DE",
        phone: |n| format!("+49 151 {:08}", n % 100_000_000),
        address: |i| format!("Lindenstraße {}, 10969 Berlin", 1 + i),
        ssid: "FRITZ!Box",
    },
    Country {
        code: "ES",
        share: 50,
        edge: "eu-fr",
        language: "es-ES",
        phone: |n| format!("+34 612 {:03} {:03}", n % 1000, (n / 1000) % 1000),
        address: |i| format!("Calle de Alcalá {}, 28014 Madrid", 1 + i),
        ssid: "MOVISTAR",
    },
    Country {
        code: "IT",
        share: 50,
        edge: "eu-fr",
        language: "it-IT",
        phone: |n| format!("+39 347 {:03} {:04}", n % 1000, (n / 1000) % 10_000),
        address: |i| format!("Via Garibaldi {}, 10122 Torino", 1 + i),
        ssid: "TIM",
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
    },
    Country {
        code: "NO",
        share: 60,
        edge: "eu-no",
        language: "nb-NO",
        phone: |n| format!("+47 412 {} {:03}", d2(n), (n / 100) % 1000),
        address: |i| format!("Strandgata {}, 2317 Hamar", 1 + i),
        ssid: "Telenor",
    },
    Country {
        code: "GB",
        share: 60,
        edge: "eu-no",
        language: "en-GB",
        phone: |n| format!("+44 7700 9{:05}", n % 100_000),
        address: |i| format!("{} Mill Lane, Leeds LS1 4AP", 1 + i),
        ssid: "BTHub",
    },
    Country {
        code: "IE",
        share: 60,
        edge: "eu-no",
        language: "en-IE",
        phone: |n| format!("+353 85 {:03} {:04}", n % 1000, (n / 1000) % 10_000),
        address: |i| format!("{} Harcourt Street, Dublin 2", 1 + i),
        ssid: "eir",
    },
    Country {
        code: "US",
        share: 170,
        edge: "us-tx",
        language: "en-US",
        phone: |n| format!("+1 512 555 {:04}", n % 10_000),
        address: |i| format!("{} Congress Avenue, Austin, TX 78701", 1 + i),
        ssid: "NETGEAR",
    },
];

fn d2(n: u64) -> String {
    format!("{:02}", n % 100)
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
            let user = User {
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
                    json!({"phone": user.phone, "address": user.address}),
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
