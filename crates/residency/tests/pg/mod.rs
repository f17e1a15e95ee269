//! A PostgreSQL schema of a test's own, in the database that
//! `RESIDENCY_TEST_POSTGRES` names (set by `.ci/run`).

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
    let Ok(url) = std::env::var("RESIDENCY_TEST_POSTGRES") else {
        eprintln!("skipped: RESIDENCY_TEST_POSTGRES is not set");
        return None;
    };
    let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
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
