//! The isolation invariant as a property, for every SQL backend: random
//! interleavings of inserts, reads, lists, updates and deletes by several
//! tenants of two platforms. No operation through tenant A's scope ever
//! returns, changes or deletes a row of another tenant, and every row a tenant
//! wrote is still readable by that tenant, as a model says it should be.
//!
//! A backend's test opens one [`World`] on its stores and runs
//! [`run`] on the actions of [`action`] in a `proptest!`.

use std::collections::BTreeMap;
use std::sync::Arc;

use neutrino_core::kv::KvStore;
use neutrino_core::sql::SqlExecutor;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::*;

/// The scopes of a case: three tenants in platform 0 and two in platform 1.
pub const SCOPES: usize = 5;

/// One step of a case: `who` is the acting scope (0 to [`SCOPES`]), `row`
/// picks one of the rows ever inserted by anyone.
#[derive(Clone, Debug)]
pub enum Action {
    /// Inserts a row holding `n`.
    Insert {
        /// The acting scope.
        who: usize,
        /// The value.
        n: i64,
    },
    /// Reads a row.
    Get {
        /// The acting scope.
        who: usize,
        /// Which row.
        row: usize,
    },
    /// Sets a row's value to `n`.
    Update {
        /// The acting scope.
        who: usize,
        /// Which row.
        row: usize,
        /// The value.
        n: i64,
    },
    /// Deletes a row.
    Delete {
        /// The acting scope.
        who: usize,
        /// Which row.
        row: usize,
    },
    /// Lists every row of the scope, `page` rows a page.
    List {
        /// The acting scope.
        who: usize,
        /// The page size.
        page: usize,
    },
}

/// A random [`Action`].
pub fn action() -> impl Strategy<Value = Action> {
    let who = 0..SCOPES;
    prop_oneof![
        3 => (who.clone(), any::<i64>()).prop_map(|(who, n)| Action::Insert { who, n }),
        2 => (who.clone(), any::<usize>()).prop_map(|(who, row)| Action::Get { who, row }),
        2 => (who.clone(), any::<usize>(), any::<i64>()).prop_map(|(who, row, n)| Action::Update { who, row, n }),
        1 => (who.clone(), any::<usize>()).prop_map(|(who, row)| Action::Delete { who, row }),
        1 => (who, 1..4usize).prop_map(|(who, page)| Action::List { who, page }),
    ]
}

/// The registry, the tenant store and its table the property runs on.
pub struct World {
    /// The registry.
    pub registry: Registry,
    /// The tenant store.
    pub store: TenantStore,
    /// The tenanted table.
    pub table: TenantTable,
}

impl World {
    /// The registry on `db` and `kv`, and the tenant store of one table on
    /// `db`. Each case makes new platforms and tenants, so the rows of
    /// earlier cases are there too, as other tenants' data.
    pub async fn open(db: Arc<dyn SqlExecutor>, kv: Arc<dyn KvStore>) -> Self {
        Self::open_with(db, kv, None).await
    }

    /// [`World::open`], with the tenant store on `tenant_db` if given (see
    /// [`super::open_store`]): on PostgreSQL, the application role's executor,
    /// and with the application filter off, row-level security alone.
    pub async fn open_with(
        db: Arc<dyn SqlExecutor>,
        kv: Arc<dyn KvStore>,
        tenant_db: Option<super::TenantDb>,
    ) -> Self {
        let registry = Registry::open(db.clone(), kv, RegistryOptions::default())
            .await
            .expect("registry");
        let table = TenantTable::new("item", &[("n", ColumnType::Integer)]).expect("table");
        let store = super::open_store(&registry, &db, tenant_db.as_ref(), vec![table.clone()])
            .await
            .expect("tenant store");
        Self {
            registry,
            store,
            table,
        }
    }
}

async fn scopes(w: &World) -> Vec<TenantScope> {
    let mut out = Vec::new();
    for (p, count) in [(0, 3), (1, 2)] {
        let platform = w
            .registry
            .create_platform(NewPlatform::new(format!("p{p}"), PlatformClass::Platform))
            .await
            .unwrap()
            .id;
        for i in 0..count {
            let t = w
                .registry
                .create_tenant(platform, NewTenant::new(format!("t{i}"), "tenant"))
                .await
                .unwrap()
                .id;
            out.push(
                w.registry
                    .operator_scope(platform, t, "proptest", "isolation")
                    .await
                    .unwrap(),
            );
        }
    }
    out
}

/// Runs `actions` on fresh tenants of `w`, checking each answer against the
/// model.
pub async fn run(w: &World, actions: Vec<Action>) -> Result<(), TestCaseError> {
    let scopes = scopes(w).await;
    // Every row ever inserted: (owner, id); the model of live rows: id -> (owner, n).
    let mut ever: Vec<(usize, String)> = Vec::new();
    let mut live: BTreeMap<String, (usize, i64)> = BTreeMap::new();
    let (s, t) = (&w.store, &w.table);
    for a in actions {
        match a {
            Action::Insert { who, n } => {
                let id = s
                    .insert(&scopes[who], t, Record::new().set("n", n))
                    .await
                    .unwrap();
                ever.push((who, id.clone()));
                live.insert(id, (who, n));
            }
            Action::Get { who, row } if !ever.is_empty() => {
                let (_, id) = &ever[row % ever.len()];
                match (s.get(&scopes[who], t, id).await, live.get(id)) {
                    (Ok(r), Some((owner, n))) => {
                        prop_assert_eq!(*owner, who, "read another tenant's row");
                        prop_assert_eq!(r.get::<i64>("n").unwrap(), *n);
                    }
                    (Err(e), m) => {
                        prop_assert!(e.is_not_found(), "{e:?}");
                        prop_assert!(
                            m.is_none_or(|(owner, _)| *owner != who),
                            "own row not readable"
                        );
                    }
                    (Ok(_), None) => prop_assert!(false, "a deleted row was returned"),
                }
            }
            Action::Update { who, row, n } if !ever.is_empty() => {
                let (_, id) = &ever[row % ever.len()];
                let res = s
                    .update(&scopes[who], t, id, Record::new().set("n", n))
                    .await;
                match live.get_mut(id) {
                    Some((owner, value)) if *owner == who => {
                        prop_assert!(res.is_ok(), "{res:?}");
                        *value = n;
                    }
                    _ => prop_assert!(res.unwrap_err().is_not_found()),
                }
            }
            Action::Delete { who, row } if !ever.is_empty() => {
                let (_, id) = &ever[row % ever.len()];
                let res = s.delete(&scopes[who], t, id).await;
                match live.get(id) {
                    Some((owner, _)) if *owner == who => {
                        prop_assert!(res.is_ok(), "{res:?}");
                        live.remove(id);
                    }
                    _ => prop_assert!(res.unwrap_err().is_not_found()),
                }
            }
            Action::List { who, page } => {
                let mut got = BTreeMap::new();
                let mut q = ListQuery::new().limit(page);
                loop {
                    let p = s.list(&scopes[who], t, &q).await.unwrap();
                    for r in &p.rows {
                        got.insert(r.get::<String>("id").unwrap(), r.get::<i64>("n").unwrap());
                    }
                    match p.cursor {
                        Some(c) => q = q.after(c),
                        None => break,
                    }
                }
                let want: BTreeMap<String, i64> = live
                    .iter()
                    .filter(|(_, (owner, _))| *owner == who)
                    .map(|(id, (_, n))| (id.clone(), *n))
                    .collect();
                prop_assert_eq!(got, want);
            }
            _ => {}
        }
    }
    // Every row still live is readable by its owner, with its last value.
    for (id, (owner, n)) in &live {
        let r = s.get(&scopes[*owner], t, id).await.unwrap();
        prop_assert_eq!(r.get::<i64>("n").unwrap(), *n);
    }
    Ok(())
}
