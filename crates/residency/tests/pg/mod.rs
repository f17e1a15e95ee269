//! A PostgreSQL schema, or a database, of a test's own, on the server that
//! `RESIDENCY_TEST_POSTGRES` names (set by `.ci/run`).
#![allow(dead_code)]

/// A fresh schema, dropped by [`Schema::drop`].
pub(crate) struct Schema {
    /// A connection for the test's own queries.
    pub(crate) admin: tokio_postgres::Client,
    /// The schema's name.
    pub(crate) name: String,
    /// A connection string whose search path is the schema.
    pub(crate) conninfo: String,
}

/// Creates schema `<prefix>_<pid>`; `None` (saying so) when
/// `RESIDENCY_TEST_POSTGRES` is not set.
pub(crate) async fn schema(prefix: &str) -> Option<Schema> {
    let (url, admin) = admin().await?;
    let name = format!("{prefix}_{}", std::process::id());
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name};"
        ))
        .await
        .unwrap();
    let conninfo = format!("{url} options='-c search_path={name}'");
    Some(Schema {
        admin,
        name,
        conninfo,
    })
}

impl Schema {
    /// Drops the schema and everything in it.
    pub(crate) async fn drop(self) {
        self.admin
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name))
            .await
            .unwrap();
    }
}

/// A fresh database, dropped by [`Database::drop`]: for a process that
/// must see it whole (the demo dumps it with `pg_dump`).
pub(crate) struct Database {
    admin: tokio_postgres::Client,
    name: String,
    /// Its connection string.
    pub(crate) conninfo: String,
}

/// Creates database `<prefix>_<pid>`; `None` (saying so) when
/// `RESIDENCY_TEST_POSTGRES` is not set.
pub(crate) async fn database(prefix: &str) -> Option<Database> {
    let (url, admin) = admin().await?;
    let name = format!("{prefix}_{}", std::process::id());
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    // libpq and tokio-postgres both take a keyword's last value.
    let conninfo = format!("{url} dbname={name}");
    Some(Database {
        admin,
        name,
        conninfo,
    })
}

impl Database {
    /// Drops the database (its sessions ended).
    pub(crate) async fn drop(self) {
        self.admin
            .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await
            .unwrap();
    }
}

/// The server's connection string and a connection to it; `None` (saying
/// so) when `RESIDENCY_TEST_POSTGRES` is not set.
async fn admin() -> Option<(String, tokio_postgres::Client)> {
    let Ok(url) = std::env::var("RESIDENCY_TEST_POSTGRES") else {
        eprintln!("skipped: RESIDENCY_TEST_POSTGRES is not set");
        return None;
    };
    let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    Some((url, admin))
}
