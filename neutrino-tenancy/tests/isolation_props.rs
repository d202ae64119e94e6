//! The isolation invariant, property-tested on a SQLite file: random interleavings
//! of inserts, reads, lists, updates and deletes by several tenants of two
//! platforms. No operation through tenant A's scope ever returns, changes or
//! deletes a row of another tenant, and every row a tenant wrote is still readable
//! by that tenant, as a model says it should be.

use std::collections::BTreeMap;
use std::sync::Arc;

use neutrino_core::memory::MemoryKv;
use neutrino_sqlite::SqliteExecutor;
use neutrino_tenancy::*;
use proptest::prelude::*;

/// Three tenants in platform 0 and two in platform 1.
const SCOPES: usize = 5;

#[derive(Clone, Debug)]
enum Action {
    Insert { who: usize, n: i64 },
    Get { who: usize, row: usize },
    Update { who: usize, row: usize, n: i64 },
    Delete { who: usize, row: usize },
    List { who: usize, page: usize },
}

fn action() -> impl Strategy<Value = Action> {
    let who = 0..SCOPES;
    prop_oneof![
        3 => (who.clone(), any::<i64>()).prop_map(|(who, n)| Action::Insert { who, n }),
        2 => (who.clone(), any::<usize>()).prop_map(|(who, row)| Action::Get { who, row }),
        2 => (who.clone(), any::<usize>(), any::<i64>()).prop_map(|(who, row, n)| Action::Update { who, row, n }),
        1 => (who.clone(), any::<usize>()).prop_map(|(who, row)| Action::Delete { who, row }),
        1 => (who, 1..4usize).prop_map(|(who, page)| Action::List { who, page }),
    ]
}

struct World {
    rt: tokio::runtime::Runtime,
    registry: Registry,
    store: TenantStore,
    table: TenantTable,
    _dir: tempfile::TempDir,
}

/// One database for all cases: each case makes new platforms and tenants, so the
/// rows of earlier cases are there too, as other tenants' data.
fn world() -> &'static World {
    static WORLD: std::sync::OnceLock<World> = std::sync::OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (registry, store, table) = rt.block_on(async {
            let db = Arc::new(
                SqliteExecutor::open(dir.path().join("props.sqlite"))
                    .await
                    .unwrap(),
            );
            let registry = Registry::open(
                db.clone(),
                Arc::new(MemoryKv::new()),
                RegistryOptions::default(),
            )
            .await
            .unwrap();
            let table = TenantTable::new("item", &[("n", ColumnType::Integer)]).unwrap();
            let store = TenantStore::open(&registry, db, vec![table.clone()])
                .await
                .unwrap();
            (registry, store, table)
        });
        World {
            rt,
            registry,
            store,
            table,
            _dir: dir,
        }
    })
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

async fn run(w: &World, actions: Vec<Action>) -> Result<(), TestCaseError> {
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn no_scope_ever_reads_changes_or_deletes_another_tenants_row(actions in prop::collection::vec(action(), 1..40)) {
        let w = world();
        w.rt.block_on(run(w, actions))?;
    }
}
